package cli

import (
	"context"
	"errors"
)

// Exit codes are part of mqttboard's interface to scripts: they are listed in
// README.md and never change meaning.
const (
	ExitOK          = 0 // success
	ExitError       = 1 // any failure not listed below
	ExitUsage       = 2 // bad flags or arguments
	ExitConnect     = 3 // the broker could not be reached (DNS, TCP, TLS, WebSocket)
	ExitRefused     = 4 // the broker said no: a reason code >= 0x80 on CONNACK, SUBACK, PUBACK or PUBREC, or a DISCONNECT from the broker
	ExitTimeout     = 5 // -W timeout passed before the expected messages or answer arrived
	ExitInterrupted = 130
)

// exitError carries the exit code a failure should end the process with.
// Commands return it (wrapped or not); [Main] maps it to the code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withExit tags err with an exit code; a nil err stays nil.
func withExit(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageError is an error in flags or arguments (exit code 2).
func usageError(err error) error { return withExit(ExitUsage, err) }

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	return ExitError
}
