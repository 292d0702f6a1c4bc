package cli

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/mqttboard/mqttboard/packet"
)

// scriptedBroker is a broker that answers what the test tells it to, for
// answers a real broker cannot be made to give on demand (a DISCONNECT in
// the middle of a publish, a PUBREC refusing a message). It accepts
// connections on loopback, decodes with package packet, grants every
// CONNECT, answers PINGREQ, and answers every other packet with what
// answer returns (nil: nothing; a nil element: close the connection
// there, as a 3.x broker refuses). It returns the address.
func scriptedBroker(t *testing.T, answer func(p packet.Packet) []packet.Packet) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := packet.NewReader(bufio.NewReader(c))
				for {
					p, err := r.ReadPacket()
					if err != nil {
						return
					}
					var out []packet.Packet
					switch p.(type) {
					case *packet.Connect:
						out = []packet.Packet{&packet.Connack{}}
					case *packet.Pingreq:
						out = []packet.Packet{&packet.Pingresp{}}
					case *packet.Disconnect:
						return
					default:
						out = answer(p)
					}
					for _, a := range out {
						if a == nil {
							return
						}
						b, err := packet.Encode(a, r.Version)
						if err != nil {
							t.Errorf("encode %T: %v", a, err)
							return
						}
						if _, err := c.Write(b); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// TestBrokerRefusalsEndAtOnce: a broker's DISCONNECT during a publish, and
// an acknowledgement with a failure code, end pub at once with exit 4 and
// the broker's own words, naming the packet that carried them. Before the
// fix pub waited out its packet timeout and printed "context deadline
// exceeded" (exit 1), a refused QoS 2 message was reported as a PUBCOMP,
// and sub printed a broker's DISCONNECT twice.
func TestBrokerRefusalsEndAtOnce(t *testing.T) {
	rs := func(s string) packet.Properties { return packet.Properties{ReasonString: s} }
	addr := scriptedBroker(t, func(p packet.Packet) []packet.Packet {
		switch p := p.(type) {
		case *packet.Publish:
			switch p.Topic {
			case "disconnect":
				return []packet.Packet{&packet.Disconnect{ReasonCode: 0x97, Props: rs("slow down")}}
			case "puback":
				return []packet.Packet{&packet.Puback{Ack: packet.Ack{PacketID: p.PacketID, ReasonCode: 0x87, Props: rs("not yours")}}}
			case "close":
				return []packet.Packet{nil}
			case "title":
				return []packet.Packet{&packet.Disconnect{ReasonCode: 0x97, Props: rs("\x1b]2;PWNED\x07\x1b[2J")}}
			case "pubrec":
				return []packet.Packet{&packet.Pubrec{Ack: packet.Ack{PacketID: p.PacketID, ReasonCode: 0x95, Props: rs("too big")}}}
			}
		case *packet.Subscribe:
			return []packet.Packet{
				&packet.Suback{PacketID: p.PacketID, ReasonCodes: []packet.ReasonCode{0}},
				&packet.Disconnect{ReasonCode: 0x8B, Props: rs("maintenance")},
			}
		}
		return nil
	})
	// A packet timeout far longer than the test's bound: waiting it out
	// fails the test.
	conn := []string{"-L", "mqtt://" + addr, "--connect-timeout", "10m"}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"pub", "-t", "disconnect", "-m", "x", "-q", "1"}, []string{"DISCONNECT", "quota exceeded", "slow down"}},
		{[]string{"pub", "-t", "disconnect", "-m", "x", "-q", "2"}, []string{"DISCONNECT", "quota exceeded", "slow down"}},
		{[]string{"pub", "-t", "puback", "-m", "x", "-q", "1"}, []string{"PUBACK", "not authorized", "not yours"}},
		{[]string{"pub", "-t", "pubrec", "-m", "x", "-q", "2"}, []string{"PUBREC", "packet too large", "too big"}},
		{[]string{"sub", "-t", "x"}, []string{"DISCONNECT", "server shutting down", "maintenance"}},
		// A broker's words reach the terminal escaped: no title change,
		// no cleared screen.
		{[]string{"pub", "-t", "title", "-m", "x", "-q", "1"}, []string{"DISCONNECT", "quota exceeded", "]2;PWNED"}},
		// 3.1.1 has no DISCONNECT from the broker: it closes the
		// connection, and pub says so at once.
		{[]string{"pub", "-V", "3.1.1", "-t", "close", "-m", "x", "-q", "1"}, []string{"connection"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, e := mqttboard(t, "", append(tc.args, conn...)...)
			if code != ExitRefused && !(code == ExitError && tc.args[1] == "-V") {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, ExitRefused, out, e)
			}
			for _, w := range tc.want {
				if !strings.Contains(e, w) {
					t.Errorf("stderr %q lacks %q", e, w)
				}
			}
			if strings.ContainsAny(e, "\x1b\x07") {
				t.Errorf("stderr %q carries the broker's control characters raw", e)
			}
			if strings.Contains(e, "PUBCOMP") || strings.Count(e, "DISCONNECT") > 1 {
				t.Errorf("stderr %q names the wrong packet or repeats itself", e)
			}
		})
	}
}
