package device

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/mockdevice"
)

// MockDevice drives ciba-check's mock device through its HTTP API: it
// waits for the request to reach the device, then decides it by id.
type MockDevice struct {
	c *mockdevice.Client
}

// NewMockDevice returns a driver for the mock device served at baseURL.
func NewMockDevice(baseURL string, hc *http.Client) (*MockDevice, error) {
	c, err := mockdevice.NewClient(baseURL, hc)
	if err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	return &MockDevice{c: c}, nil
}

// Kind is mockdevice.
func (*MockDevice) Kind() target.DeviceKind { return target.DeviceMock }

// Capabilities: everything; the device follows the users' policies by
// itself and requests of "never" users wait for Decide.
func (*MockDevice) Capabilities() Capabilities {
	return Capabilities{Approve: true, Deny: true, Hold: true, FollowsUserOutcomes: true}
}

func stateFor(action Action) (ciba.DeviceStatus, mockdevice.State) {
	if action == ActionAllow {
		return ciba.DeviceSucceed, mockdevice.StateApproved
	}
	return ciba.DeviceUnauthorized, mockdevice.StateDenied
}

// Decide waits until the request has arrived, then approves or denies it.
// A request the user's policy already decided the same way counts as
// done; one decided the other way is an error.
func (d *MockDevice) Decide(ctx context.Context, req Request, action Action) error {
	if err := checkRequest(req, action); err != nil {
		return err
	}
	status, want := stateFor(action)
	got, err := d.c.Wait(ctx, req.AuthReqID)
	if err != nil {
		return fmt.Errorf("device: request %s never reached the mock device: %w", req.AuthReqID, err)
	}
	if got.State == mockdevice.StatePending {
		got, err = d.c.Decide(ctx, req.AuthReqID, status)
		if errors.Is(err, mockdevice.ErrAlreadyDecided) {
			// The user's policy won the race; see what it decided.
			got, err = d.c.WaitSettled(ctx, req.AuthReqID)
		}
		if err != nil {
			return fmt.Errorf("device: deciding %s: %w", req.AuthReqID, err)
		}
	} else if !got.Settled() {
		if got, err = d.c.WaitSettled(ctx, req.AuthReqID); err != nil {
			return fmt.Errorf("device: waiting for %s to settle: %w", req.AuthReqID, err)
		}
	}
	if got.State != want {
		return fmt.Errorf("device: request %s was %s on the device, wanted %s", req.AuthReqID, got.State, want)
	}
	if got.CallbackError != "" {
		return fmt.Errorf("device: the device's callback to the OP for %s failed: %s", req.AuthReqID, got.CallbackError)
	}
	return nil
}

// Shown reports what the device displayed for the request, waiting for
// it to arrive.
func (d *MockDevice) Shown(ctx context.Context, authReqID string) (Shown, error) {
	r, err := d.c.Wait(ctx, authReqID)
	if err != nil {
		return Shown{}, fmt.Errorf("device: request %s never reached the mock device: %w", authReqID, err)
	}
	return Shown{LoginHint: r.LoginHint, Scope: r.Scope, BindingMessage: r.BindingMessage, UserCode: r.UserCode, ClientID: r.ClientID}, nil
}
