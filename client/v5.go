package client

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/mqttboard/mqttboard/packet"
)

// session is one network connection's MQTT session, over either paho
// library; Client re-creates it on reconnect.
type session interface {
	publish(ctx context.Context, m *Message) (*Ack, error)
	subscribe(ctx context.Context, subs []Subscription, p SubscribeProperties) (*Ack, error)
	unsubscribe(ctx context.Context, filters []string, user []packet.UserProperty) (*Ack, error)
	// disconnect sends DISCONNECT (normal) and closes the connection.
	disconnect() error
	// done is closed when the connection has ended, for any reason.
	done() <-chan struct{}
	// err is why the connection ended when we did not end it.
	err() error
}

// sink receives what a session hears from the broker.
type sink interface {
	onMessage(m Message)
	onServerDisconnect(e *DisconnectEvent)
}

type v5Session struct {
	c       *paho.Client
	bye     *paho.Disconnect // what disconnect sends
	tap     *subIDTap
	mu      sync.Mutex
	lastErr error
	// byServer is the broker's DISCONNECT, set (by the tap) before paho
	// sees the packet.
	byServer atomic.Pointer[DisconnectedError]
}

func connectV5(ctx context.Context, o *Options, conn net.Conn, s sink) (*v5Session, *Connack, error) {
	vs := &v5Session{tap: &subIDTap{Conn: fixWill(conn, o.Will), keepOrder: o.KeepPropertyOrder}}
	if o.KeepPropertyOrder {
		vs.tap.active.Store(true)
	}
	vs.tap.onDisconnect = func(d *packet.Disconnect) {
		vs.byServer.CompareAndSwap(nil, &DisconnectedError{Code: d.ReasonCode,
			ReasonString: d.Props.ReasonString, ServerReference: d.Props.ServerReference})
	}
	cfg := paho.ClientConfig{
		ClientID: o.ClientID,
		// paho writes from several goroutines; the lock keeps packets whole.
		Conn: packets.NewThreadSafeConn(vs.tap),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				m := messageFromV5(pr.Packet)
				m.PacketID = pr.Packet.PacketID
				if len(m.Props.SubscriptionIDs) == 1 || vs.tap.keepOrder {
					if e, ok := vs.tap.lookup(&m, pr.Packet.PacketID); ok {
						if len(e.ids) > 0 {
							m.Props.SubscriptionIDs = e.ids
						}
						m.PropOrder = e.order
					}
				}
				s.onMessage(m)
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) {
			e := &DisconnectEvent{Code: packet.ReasonCode(d.ReasonCode), Time: time.Now()}
			if d.Properties != nil {
				e.Props.ReasonString = d.Properties.ReasonString
				e.Props.ServerReference = d.Properties.ServerReference
				e.Props.User = userFromPaho(d.Properties.User)
				if d.Properties.SessionExpiryInterval != nil {
					e.Props.SessionExpiry = *d.Properties.SessionExpiryInterval
					e.Props.Present = e.Props.Present.Add(packet.PropSessionExpiry)
				}
			}
			s.onServerDisconnect(e)
		},
		OnClientError: func(err error) { vs.setErr(err) },
		PacketTimeout: o.ConnectTimeout,
	}
	vs.c = paho.NewClient(cfg)
	vs.bye = &paho.Disconnect{ReasonCode: 0}
	if dp := o.DisconnectProps; dp.Has(packet.PropSessionExpiry) || len(dp.User) > 0 {
		vs.bye.Properties = &paho.DisconnectProperties{User: userToPaho(dp.User)}
		if dp.Has(packet.PropSessionExpiry) {
			v := dp.SessionExpiry
			vs.bye.Properties.SessionExpiryInterval = &v
		}
	}

	cp := &paho.Connect{
		ClientID:   o.ClientID,
		KeepAlive:  o.keepAliveSeconds(),
		CleanStart: !o.Persistent,
		Username:   o.Username,
		Password:   o.Password,
		Properties: &paho.ConnectProperties{
			SessionExpiryInterval: o.SessionExpiry,
			ReceiveMaximum:        o.ReceiveMaximum,
			MaximumPacketSize:     o.MaximumPacketSize,
			TopicAliasMaximum:     o.TopicAliasMaximum,
			RequestResponseInfo:   o.RequestResponseInfo,
			RequestProblemInfo:    !o.NoProblemInfo,
			User:                  userToPaho(o.UserProperties),
			AuthMethod:            o.AuthMethod,
			AuthData:              o.AuthData,
		},
	}
	cp.UsernameFlag = o.Username != ""
	cp.PasswordFlag = o.PasswordSet || len(o.Password) > 0
	if w := o.Will; w != nil {
		cp.WillMessage = &paho.WillMessage{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain}
		wp := publishPropsToPaho(&w.Props)
		cp.WillProperties = &paho.WillProperties{
			PayloadFormat:   wp.PayloadFormat,
			MessageExpiry:   wp.MessageExpiry,
			ContentType:     wp.ContentType,
			ResponseTopic:   wp.ResponseTopic,
			CorrelationData: wp.CorrelationData,
			User:            wp.User,
		}
		if w.Props.Has(packet.PropWillDelay) {
			d := w.Props.WillDelay
			cp.WillProperties.WillDelayInterval = &d
		}
	}
	ca, err := vs.c.Connect(ctx, cp)
	if ca != nil && ca.ReasonCode >= 0x80 {
		rs := ""
		if ca.Properties != nil {
			rs = ca.Properties.ReasonString
		}
		return nil, nil, &RefusedError{Code: packet.ReasonCode(ca.ReasonCode), ReasonString: rs}
	}
	if err != nil {
		return nil, nil, err
	}
	return vs, connackFromV5(ca), nil
}

func (s *v5Session) setErr(err error) {
	s.mu.Lock()
	if s.lastErr == nil {
		s.lastErr = err
	}
	s.mu.Unlock()
}

func (s *v5Session) err() error {
	if d := s.byServer.Load(); d != nil {
		return d
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr == nil {
		return errors.New("connection closed")
	}
	return s.lastErr
}

func (s *v5Session) done() <-chan struct{} { return s.c.Done() }

func (s *v5Session) disconnect() error {
	return s.c.Disconnect(s.bye)
}

// whileConnected returns ctx cancelled also when the connection ends:
// paho.golang leaves a request waiting for its answer until its packet
// timeout even after the broker has disconnected.
func (s *v5Session) whileConnected(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.c.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// ended returns why the connection ended when it has, for a request that
// failed with err; otherwise err.
func (s *v5Session) ended(err error) error {
	select {
	case <-s.c.Done():
		return s.err()
	default:
	}
	if d := s.byServer.Load(); d != nil {
		return d
	}
	return err
}

func (s *v5Session) publish(ctx context.Context, m *Message) (*Ack, error) {
	p := &paho.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, Properties: publishPropsToPaho(&m.Props)}
	if m.QoS == 0 {
		// Nothing comes back for QoS 0 (paho returns an empty
		// PublishResponse that would read as a PUBACK with reason 0), and
		// nothing waits: a broker's DISCONNECT is reported by the next
		// publish.
		if d := s.byServer.Load(); d != nil {
			return nil, d
		}
		if _, err := s.c.Publish(ctx, p); err != nil {
			return nil, s.ended(err)
		}
		return &Ack{}, nil
	}
	ctx, cancel := s.whileConnected(ctx)
	defer cancel()
	pr, err := s.c.Publish(ctx, p)
	if pr == nil || (err != nil && pr.ReasonCode == 0) {
		if err == nil {
			err = errors.New("no acknowledgement")
		}
		return nil, s.ended(err)
	}
	a := &Ack{Type: packet.PUBACK, Codes: []packet.ReasonCode{packet.ReasonCode(pr.ReasonCode)}}
	if m.QoS == 2 {
		// A refused QoS 2 message ends at PUBREC (MQTT 5.0 section 4.3.3): no
		// PUBREL or PUBCOMP follows a PUBREC >= 0x80.
		a.Type = packet.PUBCOMP
		if pr.ReasonCode >= 0x80 {
			a.Type = packet.PUBREC
		}
	}
	if pr.Properties != nil {
		a.ReasonString = pr.Properties.ReasonString
		a.User = userFromPaho(pr.Properties.User)
	}
	return a, nil
}

func (s *v5Session) subscribe(ctx context.Context, subs []Subscription, p SubscribeProperties) (*Ack, error) {
	sp := &paho.Subscribe{Properties: &paho.SubscribeProperties{User: userToPaho(p.User)}}
	if p.SubscriptionID != 0 {
		// From now on PUBLISH packets may carry several identifiers.
		s.tap.active.Store(true)
		id := p.SubscriptionID
		sp.Properties.SubscriptionIdentifier = &id
	}
	for _, sub := range subs {
		sp.Subscriptions = append(sp.Subscriptions, paho.SubscribeOptions{
			Topic: sub.Filter, QoS: sub.QoS, NoLocal: sub.NoLocal,
			RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling,
		})
	}
	ctx, cancel := s.whileConnected(ctx)
	defer cancel()
	sa, err := s.c.Subscribe(ctx, sp)
	if sa == nil {
		return nil, s.ended(err)
	}
	// paho reports failure codes as an error too; the Ack carries them.
	a := &Ack{Type: packet.SUBACK}
	for _, r := range sa.Reasons {
		a.Codes = append(a.Codes, packet.ReasonCode(r))
	}
	if sa.Properties != nil {
		a.ReasonString = sa.Properties.ReasonString
		a.User = userFromPaho(sa.Properties.User)
	}
	return a, nil
}

func (s *v5Session) unsubscribe(ctx context.Context, filters []string, user []packet.UserProperty) (*Ack, error) {
	ctx, cancel := s.whileConnected(ctx)
	defer cancel()
	ua, err := s.c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: filters, Properties: &paho.UnsubscribeProperties{User: userToPaho(user)}})
	if ua == nil {
		return nil, s.ended(err)
	}
	a := &Ack{Type: packet.UNSUBACK}
	for _, r := range ua.Reasons {
		a.Codes = append(a.Codes, packet.ReasonCode(r))
	}
	if ua.Properties != nil {
		a.ReasonString = ua.Properties.ReasonString
		a.User = userFromPaho(ua.Properties.User)
	}
	return a, nil
}

func userToPaho(u []packet.UserProperty) paho.UserProperties {
	if len(u) == 0 {
		return nil
	}
	out := make(paho.UserProperties, len(u))
	for i, p := range u {
		out[i] = paho.UserProperty{Key: p.Key, Value: p.Value}
	}
	return out
}

func userFromPaho(u paho.UserProperties) []packet.UserProperty {
	if len(u) == 0 {
		return nil
	}
	out := make([]packet.UserProperty, len(u))
	for i, p := range u {
		out[i] = packet.UserProperty{Key: p.Key, Value: p.Value}
	}
	return out
}

func publishPropsToPaho(p *packet.Properties) *paho.PublishProperties {
	pp := &paho.PublishProperties{
		ContentType:     p.ContentType,
		ResponseTopic:   p.ResponseTopic,
		CorrelationData: p.CorrelationData,
		User:            userToPaho(p.User),
	}
	if p.Has(packet.PropPayloadFormat) {
		v := p.PayloadFormat
		pp.PayloadFormat = &v
	}
	if p.Has(packet.PropMessageExpiry) {
		v := p.MessageExpiry
		pp.MessageExpiry = &v
	}
	if p.Has(packet.PropTopicAlias) {
		v := p.TopicAlias
		pp.TopicAlias = &v
	}
	return pp
}

func messageFromV5(p *paho.Publish) Message {
	m := Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Dup: p.Duplicate()}
	pp := p.Properties
	if pp == nil {
		return m
	}
	m.Props.ContentType = pp.ContentType
	m.Props.ResponseTopic = pp.ResponseTopic
	m.Props.CorrelationData = pp.CorrelationData
	m.Props.User = userFromPaho(pp.User)
	if pp.PayloadFormat != nil {
		m.Props.PayloadFormat = *pp.PayloadFormat
		m.Props.Present = m.Props.Present.Add(packet.PropPayloadFormat)
	}
	if pp.MessageExpiry != nil {
		m.Props.MessageExpiry = *pp.MessageExpiry
		m.Props.Present = m.Props.Present.Add(packet.PropMessageExpiry)
	}
	if pp.TopicAlias != nil {
		m.Props.TopicAlias = *pp.TopicAlias
		m.Props.Present = m.Props.Present.Add(packet.PropTopicAlias)
	}
	// paho.golang keeps only the last subscription identifier of a PUBLISH;
	// the caller restores the others from the subIDTap.
	if pp.SubscriptionIdentifier != nil {
		m.Props.SubscriptionIDs = []uint32{uint32(*pp.SubscriptionIdentifier)}
		m.Props.Present = m.Props.Present.Add(packet.PropSubscriptionID)
	}
	return m
}

func connackFromV5(ca *paho.Connack) *Connack {
	c := &Connack{SessionPresent: ca.SessionPresent, Code: packet.ReasonCode(ca.ReasonCode)}
	p := ca.Properties
	if p == nil {
		return c
	}
	pr := &c.Props
	set := func(id packet.PropID) { pr.Present = pr.Present.Add(id) }
	pr.AssignedClientID = p.AssignedClientID
	pr.ReasonString = p.ReasonString
	pr.ResponseInfo = p.ResponseInfo
	pr.ServerReference = p.ServerReference
	pr.AuthMethod = p.AuthMethod
	pr.AuthData = p.AuthData
	pr.User = userFromPaho(p.User)
	if p.SessionExpiryInterval != nil {
		pr.SessionExpiry = *p.SessionExpiryInterval
		set(packet.PropSessionExpiry)
	}
	if p.ServerKeepAlive != nil {
		pr.ServerKeepAlive = *p.ServerKeepAlive
		set(packet.PropServerKeepAlive)
	}
	if p.ReceiveMaximum != nil {
		pr.ReceiveMaximum = *p.ReceiveMaximum
		set(packet.PropReceiveMaximum)
	}
	if p.TopicAliasMaximum != nil {
		pr.TopicAliasMaximum = *p.TopicAliasMaximum
		set(packet.PropTopicAliasMaximum)
	}
	if p.MaximumPacketSize != nil {
		pr.MaximumPacketSize = *p.MaximumPacketSize
		set(packet.PropMaximumPacketSize)
	}
	if p.MaximumQoS != nil {
		pr.MaximumQoS = *p.MaximumQoS
		set(packet.PropMaximumQoS)
	}
	return c
}
