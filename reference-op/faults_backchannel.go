package refop

// backchannelFaults deviate at the backchannel authentication endpoint: parameters, hints, binding_message, user_code, request objects, the acknowledgement.
func backchannelFaults() []Fault {
	return nil
}
