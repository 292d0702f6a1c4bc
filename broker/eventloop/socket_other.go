//go:build !linux

package eventloop

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// Socket is not available on this platform: [Detach] fails and the
// broker keeps the runtime's net.Conn.
type Socket struct{}

// Detach returns ErrUnsupported here.
func Detach(nc net.Conn) (fd int, raddr netip.AddrPort, err error) {
	return -1, raddr, ErrUnsupported
}

// Acceptor is not available on this platform: [NewAcceptor] fails.
type Acceptor struct{}

// NewAcceptor returns ErrUnsupported here.
func NewAcceptor(l net.Listener) (*Acceptor, error) { return nil, ErrUnsupported }

// Accept and Close are never reached: there is no Acceptor here.
func (a *Acceptor) Accept() (fd int, raddr netip.AddrPort, err error) {
	return -1, raddr, ErrUnsupported
}
func (a *Acceptor) Close() error { return nil }

// ErrWouldBlock is [Socket.ReadNow] finding nothing to read, or
// [Socket.WritevNow] no room to write.
var ErrWouldBlock = errors.New("eventloop: no bytes waiting")

// The methods below are never reached: there is no Socket here.

func (s *Socket) Init(fd int, raddr netip.AddrPort)          {}
func (s *Socket) FD() int                                    { return -1 }
func (s *Socket) Notify(ev Events)                           {}
func (s *Socket) ReadNow(p []byte) (int, error)              { return 0, ErrUnsupported }
func (s *Socket) Read(p []byte) (int, error)                 { return 0, ErrUnsupported }
func (s *Socket) Write(p []byte) (int, error)                { return 0, ErrUnsupported }
func (s *Socket) Writev(bufs *net.Buffers) (int64, error)    { return 0, ErrUnsupported }
func (s *Socket) WritevNow(bufs *net.Buffers) (int64, error) { return 0, ErrUnsupported }
func (s *Socket) Close() error                               { return nil }
func (s *Socket) CloseWrite() error                          { return ErrUnsupported }
func (s *Socket) SetDeadline(t time.Time) error              { return nil }
func (s *Socket) SetReadDeadline(t time.Time) error          { return nil }
func (s *Socket) SetWriteDeadline(t time.Time) error         { return nil }
func (s *Socket) RemoteAddr() net.Addr                       { return &net.TCPAddr{} }
func (s *Socket) LocalAddr() net.Addr                        { return &net.TCPAddr{} }
func (s *Socket) AddrPort() netip.AddrPort                   { return netip.AddrPort{} }

// CloseFD is never reached: Detach returns no descriptor here.
func CloseFD(fd int) error { return ErrUnsupported }
