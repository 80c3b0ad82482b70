package refop

import (
	"crypto/tls"
	"errors"
	"net/http"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// The bends a catalogue entry is made of: rule switches (waive, answer)
// and, per seam, the bend that wraps it (on*). Each wraps what is
// installed, so bends of one seam compose in the order New installs them.

// bendRule makes rule r's verdict verdict(the verdict so far).
func (h *hooks) bendRule(r rule, verdict func(strict error) error) {
	prev, ok := h.rules[r]
	if !ok {
		prev = func(strict error) error { return strict }
	}
	h.rules[r] = func(strict error) error {
		if err := prev(strict); err != nil {
			return verdict(err)
		}
		return nil
	}
}

// waive is the bend that lifts rules: the OP accepts what they refuse.
func waive(rules ...rule) func(*hooks) {
	return func(h *hooks) {
		for _, r := range rules {
			h.bendRule(r, func(error) error { return nil })
		}
	}
}

// answer is the bend that answers rule r's refusal with err instead.
func answer(r rule, err error) func(*hooks) {
	return func(h *hooks) { h.bendRule(r, func(error) error { return err }) }
}

// answerWithStatus is the bend answering rule r's refusal with HTTP
// status instead.
func answerWithStatus(r rule, status int) func(*hooks) {
	return func(h *hooks) {
		h.bendRule(r, func(strict error) error {
			var e *ciba.Error
			if errors.As(strict, &e) {
				return e.WithStatus(status)
			}
			return strict
		})
	}
}

// bends is the bend doing each of bs in turn.
func bends(bs ...func(*hooks)) func(*hooks) {
	return func(h *hooks) {
		for _, b := range bs {
			b(h)
		}
	}
}

// onParams is the bend reshaping the backchannel parameters as read.
func onParams(f func(p *authParams)) func(*hooks) {
	return func(h *hooks) { h.params = reshape(h.params, f) }
}

// reshape is prev, then f on its result: how a bend wraps a value seam.
func reshape[T any](prev func(T) T, f func(*T)) func(T) T {
	return func(v T) T {
		v = prev(v)
		f(&v)
		return v
	}
}

// onNewRequest is the bend reshaping a new request before it is stored.
func onNewRequest(f func(op *OP, ar *AuthRequest)) func(*hooks) {
	return func(h *hooks) {
		prev := h.newRequest
		h.newRequest = func(op *OP, ar AuthRequest) AuthRequest {
			ar = prev(op, ar)
			f(op, &ar)
			return ar
		}
	}
}

// onDeviceView is the bend reshaping the request the device receives.
func onDeviceView(f func(ar *AuthRequest)) func(*hooks) {
	return func(h *hooks) { h.deviceView = reshape(h.deviceView, f) }
}

// onTokenResponse is the bend reshaping every token response.
func onTokenResponse(f func(op *OP, tr *ciba.TokenResponse, g tokenGrant)) func(*hooks) {
	return func(h *hooks) {
		prev := h.tokenResponse
		h.tokenResponse = func(op *OP, tr *ciba.TokenResponse, g tokenGrant) {
			prev(op, tr, g)
			f(op, tr, g)
		}
	}
}

// onIDTokenClaims is the bend reshaping ID token claims before signing.
func onIDTokenClaims(f func(op *OP, c map[string]any, g tokenGrant, tr ciba.TokenResponse)) func(*hooks) {
	return func(h *hooks) {
		prev := h.idTokenClaims
		h.idTokenClaims = func(op *OP, c map[string]any, g tokenGrant, tr ciba.TokenResponse) {
			prev(op, c, g, tr)
			f(op, c, g, tr)
		}
	}
}

// onMetadata is the bend reshaping what the OP supports (Metadata).
func onMetadata(f func(op *OP, md *ciba.ProviderMetadata)) func(*hooks) {
	return func(h *hooks) {
		prev := h.metadata
		h.metadata = func(op *OP, md *ciba.ProviderMetadata) {
			prev(op, md)
			f(op, md)
		}
	}
}

// onPublished is the bend reshaping the published discovery metadata.
func onPublished(f func(md *ciba.ProviderMetadata)) func(*hooks) {
	return func(h *hooks) {
		prev := h.published
		h.published = func(op *OP, md *ciba.ProviderMetadata) {
			prev(op, md)
			f(md)
		}
	}
}

// onDocument is the bend reshaping the discovery document as a JSON
// object (what the typed metadata cannot express).
func onDocument(f func(op *OP, doc map[string]any) error) func(*hooks) {
	return func(h *hooks) { h.document = chainObject(h.document, f) }
}

// onKeySet is the bend reshaping the published JWKS.
func onKeySet(f func(op *OP, set *jose.JSONWebKeySet) error) func(*hooks) {
	return func(h *hooks) {
		prev := h.keySet
		h.keySet = func(op *OP, set *jose.JSONWebKeySet) error {
			if err := prev(op, set); err != nil {
				return err
			}
			return f(op, set)
		}
	}
}

// onJWKSDocument is the bend reshaping the JWKS as a JSON object.
func onJWKSDocument(f func(op *OP, doc map[string]any) error) func(*hooks) {
	return func(h *hooks) { h.jwksDocument = chainObject(h.jwksDocument, f) }
}

// chainObject is f after prev (which may be nil).
func chainObject(prev, f func(op *OP, doc map[string]any) error) func(op *OP, doc map[string]any) error {
	if prev == nil {
		return f
	}
	return func(op *OP, doc map[string]any) error {
		if err := prev(op, doc); err != nil {
			return err
		}
		return f(op, doc)
	}
}

// onTLS is the bend reshaping the server TLS configuration.
func onTLS(f func(c *tls.Config)) func(*hooks) {
	return func(h *hooks) {
		prev := h.tls
		h.tls = func(c *tls.Config) {
			prev(c)
			f(c)
		}
	}
}

// onCacheControl is the bend reshaping Cache-Control: no-store.
func onCacheControl(f func(cc string) string) func(*hooks) {
	return func(h *hooks) {
		prev := h.cacheControl
		h.cacheControl = func(cc string) string {
			if prev != nil {
				cc = prev(cc)
			}
			return f(cc)
		}
	}
}

// onErrorResponse is the bend reshaping error answers.
func onErrorResponse(f func(r *http.Request, status *int, body *ciba.ErrorResponse)) func(*hooks) {
	return func(h *hooks) {
		prev := h.errorResponse
		h.errorResponse = func(r *http.Request, status *int, body *ciba.ErrorResponse) {
			if prev != nil {
				prev(r, status, body)
			}
			f(r, status, body)
		}
	}
}

// signIDTokenWith is the bend signing ID tokens with key(op).
func signIDTokenWith(key func(op *OP) any) func(*hooks) {
	return func(h *hooks) { h.idTokenKey = key }
}
