package mockdevice

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// heldToken is the OP's bearer token as a pending request keeps it for
// the callback, in under half the bytes of the string: a compact JWS is
// three base64url segments; the header, the same on every token an OP
// signs, is shared, and the signature is kept decoded. So is the
// payload, unless it is exactly what the reference OP signs for the
// record's fields (channelPayload): then it is rebuilt from them. String
// gives back the exact token; one that would not come back byte for byte
// (not three segments of canonical unpadded base64url) is kept whole.
type heldToken struct {
	header *string // the first segment, shared; nil when rest is the whole token
	rest   string  // the payload (unless rebuilt) and signature decoded, back to back; or the whole token
	// cut is where the signature starts in rest, or rebuiltCut: the
	// payload is channelPayload(rec, iat) with iat the record's exp less
	// iatBeforeExp seconds.
	cut          int32
	iatBeforeExp int32
}

// rebuiltCut is heldToken.cut for a token whose payload is rebuilt.
const rebuiltCut = -1

// rebuilt reports whether the payload is rebuilt from the record.
func (t heldToken) rebuilt() bool { return t.cut == rebuiltCut }

// hold is token as rec keeps it while pending; iat is the token's iat,
// zero when it has none.
func (x *index) hold(token string, rec *record, iat time.Time) heldToken {
	whole := heldToken{rest: strings.Clone(token)}
	header, rest, ok := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || header == "" {
		return whole
	}
	enc := base64.RawURLEncoding.Strict()
	buf := make([]byte, enc.DecodedLen(len(payload))+enc.DecodedLen(len(sig)))
	n, err := enc.Decode(buf, []byte(payload))
	if err != nil || n > math.MaxInt32 {
		return whole
	}
	m, err := enc.Decode(buf[n:], []byte(sig))
	if err != nil {
		return whole
	}
	held := heldToken{header: x.share(header), rest: string(buf[:n+m]), cut: int32(n)}
	// The iat is kept as seconds before exp in 4 bytes: one further off
	// (68 years) leaves the payload decoded.
	if before := int64(rec.expiresAt()/stamp(time.Second)) - iat.Unix(); !iat.IsZero() &&
		before >= math.MinInt32 && before <= math.MaxInt32 &&
		string(channelPayload(rec, iat.Unix())) == held.rest[:n] {
		held.rest, held.cut, held.iatBeforeExp = strings.Clone(held.rest[n:]), rebuiltCut, int32(before)
	}
	// The decoder skips line breaks, which would not come back.
	if held.String(rec) != token {
		return whole
	}
	return held
}

// String is the token as the OP sent it for rec.
func (t heldToken) String(rec *record) string {
	if t.header == nil {
		return t.rest
	}
	var payload []byte
	sig := t.rest
	if t.rebuilt() {
		payload = channelPayload(rec, int64(rec.expiresAt()/stamp(time.Second))-int64(t.iatBeforeExp))
	} else {
		payload, sig = []byte(t.rest[:t.cut]), t.rest[t.cut:]
	}
	enc := base64.RawURLEncoding
	return *t.header + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString([]byte(sig))
}

// channelPayload is the payload of the reference OP's channel token for
// rec (reference-op/device.go channelToken: the claims marshalled from a
// map, so in key order, as the fields here are); nil when rec's expiry
// is not a whole second, as no token's exp is.
func channelPayload(rec *record, iat int64) []byte {
	if rec.expiresAt()%stamp(time.Second) != 0 {
		return nil
	}
	b, err := json.Marshal(struct {
		Aud string `json:"aud"`
		Azp string `json:"azp"`
		Exp int64  `json:"exp"`
		Iat int64  `json:"iat"`
		Iss string `json:"iss"`
		Jti string `json:"jti"`
		Sub string `json:"sub"`
	}{rec.iss, rec.clientID, int64(rec.expiresAt() / stamp(time.Second)), iat, rec.iss, rec.id, rec.sub})
	if err != nil {
		return nil
	}
	return b
}
