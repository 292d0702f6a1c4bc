//go:build !unix

package broker

import "errors"

// sysRead is never reached here: there is no event loop (see
// eventloop.Supported), so no read is made without waiting.
func sysRead(fd uintptr, p []byte) (int, error) { return 0, errors.ErrUnsupported }
