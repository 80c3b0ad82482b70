package client

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind (pollers,
// receivers, idle connections).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
