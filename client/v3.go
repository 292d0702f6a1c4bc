package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/mqttboard/mqttboard/packet"
)

// v3Session is an MQTT 3.1 or 3.1.1 connection over paho.mqtt.golang. The
// library's own reconnect is off: Client reconnects the same way for both
// versions.
type v3Session struct {
	c        mqtt.Client
	conn     net.Conn
	quiesce  time.Duration
	doneOnce sync.Once
	doneCh   chan struct{}
	mu       sync.Mutex
	lastErr  error
}

func connectV3(ctx context.Context, o *Options, conn net.Conn, s sink) (*v3Session, *Connack, error) {
	vs := &v3Session{doneCh: make(chan struct{}), conn: conn, quiesce: o.ConnectTimeout}
	mo := mqtt.NewClientOptions()
	// The server URL is only a label here: the connection is already open
	// and handed over below.
	mo.AddBroker("tcp://" + conn.RemoteAddr().String())
	handed := false
	mo.SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
		if handed {
			return nil, errors.New("connection already used")
		}
		handed = true
		return conn, nil
	})
	mo.SetProtocolVersion(uint(o.Version))
	mo.SetClientID(o.ClientID)
	mo.SetUsername(o.Username)
	mo.SetPassword(string(o.Password))
	mo.SetCleanSession(!o.Persistent)
	mo.SetKeepAlive(time.Duration(o.keepAliveSeconds()) * time.Second)
	mo.SetAutoReconnect(false)
	mo.SetConnectRetry(false)
	mo.SetConnectTimeout(o.ConnectTimeout)
	mo.SetWriteTimeout(o.ConnectTimeout)
	// Messages reach the Events channel in the order the broker sent them.
	mo.SetOrderMatters(true)
	mo.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
		s.onMessage(Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Retain: m.Retained(), Dup: m.Duplicate(), PacketID: m.MessageID()})
	})
	mo.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		vs.mu.Lock()
		vs.lastErr = err
		vs.mu.Unlock()
		vs.doneOnce.Do(func() { close(vs.doneCh) })
	})
	if w := o.Will; w != nil {
		mo.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retain)
	}
	vs.c = mqtt.NewClient(mo)
	tok := vs.c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		conn.Close()
		return nil, nil, ctx.Err()
	}
	ct := tok.(*mqtt.ConnectToken)
	if err := tok.Error(); err != nil {
		rc := ct.ReturnCode()
		if rc != packets.Accepted && rc < packets.ErrNetworkError {
			return nil, nil, &RefusedError{Code: packet.ConnackFromV3(rc)}
		}
		return nil, nil, err
	}
	return vs, &Connack{SessionPresent: ct.SessionPresent()}, nil
}

func (s *v3Session) done() <-chan struct{} { return s.doneCh }

func (s *v3Session) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr == nil {
		return errors.New("connection closed")
	}
	return s.lastErr
}

func (s *v3Session) disconnect() error {
	// paho's Disconnect returns when it has written DISCONNECT and stopped
	// its workers, or when the quiesce time has passed, whichever is first;
	// the bound is generous because returning early meant exiting before
	// the DISCONNECT (and the publishes before it) left. Closing the
	// connection ourselves then waits for whatever close paho started to
	// finish flushing (see batchConn.Close).
	s.c.Disconnect(uint(s.quiesce / time.Millisecond))
	err := s.conn.Close()
	s.doneOnce.Do(func() { close(s.doneCh) })
	return err
}

func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *v3Session) publish(ctx context.Context, m *Message) (*Ack, error) {
	if err := wait(ctx, s.c.Publish(m.Topic, m.QoS, m.Retain, m.Payload)); err != nil {
		return nil, err
	}
	switch m.QoS {
	case 1:
		return &Ack{Type: packet.PUBACK, Codes: []packet.ReasonCode{0}}, nil
	case 2:
		return &Ack{Type: packet.PUBCOMP, Codes: []packet.ReasonCode{0}}, nil
	}
	return &Ack{}, nil
}

func (s *v3Session) subscribe(ctx context.Context, subs []Subscription, _ SubscribeProperties) (*Ack, error) {
	filters := make(map[string]byte, len(subs))
	for _, sub := range subs {
		filters[sub.Filter] = sub.QoS
	}
	tok := s.c.SubscribeMultiple(filters, nil)
	if err := wait(ctx, tok); err != nil {
		return nil, err
	}
	res := tok.(*mqtt.SubscribeToken).Result()
	a := &Ack{Type: packet.SUBACK}
	for _, sub := range subs {
		code, ok := res[sub.Filter]
		if !ok {
			return nil, fmt.Errorf("SUBACK has no code for %q", sub.Filter)
		}
		a.Codes = append(a.Codes, packet.ReasonCode(code))
	}
	return a, nil
}

func (s *v3Session) unsubscribe(ctx context.Context, filters []string, _ []packet.UserProperty) (*Ack, error) {
	if err := wait(ctx, s.c.Unsubscribe(filters...)); err != nil {
		return nil, err
	}
	return &Ack{Type: packet.UNSUBACK}, nil
}
