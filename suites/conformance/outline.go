package conformance

// section is one heading of the suite (a Ginkgo Describe, a section of
// the report) and the groups of checks it registers, each a function of
// one concern in checks_<area>_<concern>.go.
type section struct {
	title  string
	groups []func(*Framework)
}

// suiteOutline is the suite's table of contents, in report order: the
// order of the sections and of the groups in them is the order of the
// checks in every report. A line holds groups of one file.
func suiteOutline() []section {
	return []section{
		{"Discovery", []func(*Framework){
			discoveryEndpointChecks, discoveryDeliveryModeChecks, discoveryRequestSigningChecks, discoveryCIBASupportChecks,
			discoveryJWKSChecks,
			discoveryClientAuthChecks, discoverySigningAlgChecks, discoveryMTLSChecks,
		}},
		{"Backchannel authentication endpoint", []func(*Framework){
			backchannelAuthReqIDChecks, backchannelAckTimingChecks,
			backchannelHintChecks, backchannelUnknownValueChecks, backchannelPingParamChecks, backchannelVariantChecks,
			backchannelBindingMessageChecks, backchannelBindingMessageDisplayChecks,
			backchannelSignedRequestChecks,
		}},
		{"Signed authentication request", []func(*Framework){
			requestObjectAudienceIssuerChecks, requestObjectExpiryChecks, requestObjectFreshnessChecks, requestObjectReplayChecks,
			requestObjectSignatureChecks, requestObjectKeyChecks,
		}},
		{"Client authentication", []func(*Framework){
			clientAuthAudienceChecks, clientAuthMissingAssertionChecks, clientAuthAlgorithmChecks, clientAuthTokenAudienceChecks,
			clientAuthIssuerChecks, clientAuthCertificateIdentityChecks, clientAuthMTLSChecks,
			clientAuthSecretChecks, clientAuthSecretJWTChecks,
		}},
		{"Token endpoint", []func(*Framework){
			tokenIssuanceChecks, tokenResponseChecks,
			tokenIDTokenChecks, tokenIDTokenHashChecks,
			tokenRedemptionChecks, tokenAuthReqIDChecks,
			tokenPollOutcomeChecks, tokenPollRateChecks,
			tokenCertificateRequiredChecks, tokenHolderOfKeyChecks,
			tokenRefreshOwnerChecks, tokenRefreshResultChecks, tokenRefreshScopeChecks,
		}},
		{"Ping mode", []func(*Framework){
			pingFlowChecks, pingRequestChecks, pingNoRetryChecks, pingAnswerChecks,
		}},
		{"Push mode", []func(*Framework){
			pushDeliveryChecks, pushPayloadChecks, pushErrorChecks, pushWithholdingChecks,
		}},
		{"TLS and sender-constrained tokens", []func(*Framework){
			tlsCipherSuiteChecks, tlsVersionChecks,
			tlsBindingChecks,
		}},
		{"User code and authentication context", []func(*Framework){
			userCodeChecks, acrChecks,
		}},
		{"Protected resource", []func(*Framework){
			resourceHeaderChecks, resourceTokenTransportChecks,
		}},
		{"Attack probes", []func(*Framework){
			attackRequestObjectCritChecks, attackRequestObjectNamedKeyChecks, attackRequestObjectForeignKeyChecks, attackRequestObjectMalformedChecks,
			attackBackchannelFormChecks, attackRequestedExpiryChecks, attackNotificationTokenChecks,
			attackAssertionSignatureChecks, attackAssertionLifetimeChecks, attackAssertionClaimChecks, attackAssertionKeyTypeChecks,
			attackTokenChecks,
		}},
	}
}
