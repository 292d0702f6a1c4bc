// Package conn is one connection of the board: its client, the goroutine
// that drains the client's events into a bounded ring, and the state the
// panes show (status, CONNACK, subscriptions, message history, topic tree,
// packet log). State changes only on the board's goroutine: in Apply (the
// result of a request) and in Drain (the frame tick).
package conn

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/profiles"
	"github.com/mqttboard/mqttboard/tui/common"
)

// Sizes of the bounded buffers. Events: 10,000 msg/s at a 30 Hz frame is
// ~333 per frame, so 64Ki rides out a UI stall of seconds. History: what the
// issue asks (10,000 per connection). Packets: a log to read, not an archive.
const (
	EventRingSize  = 1 << 16
	PacketRingSize = 1 << 13
	HistorySize    = 10_000
	PacketLogSize  = 5_000
	PublishHistory = 50
	requestTimeout = 15 * time.Second
	connectTimeout = 10 * time.Second
)

// Status is where a connection is in its life.
type Status int

// Connection states.
const (
	Disconnected Status = iota
	Connecting
	Connected
	Reconnecting
	Failed
)

func (s Status) String() string {
	return [...]string{"disconnected", "connecting", "connected", "reconnecting", "failed"}[s]
}

// Message is one received message with its number in the history.
type Message struct {
	Seq uint64
	*client.MessageEvent
}

// Subscription is a subscription of the connection and what the broker said.
type Subscription struct {
	profiles.Subscription
	Pending bool
	Code    packet.ReasonCode
	Err     string
	Count   uint64 // messages received matching it
}

// Sent is a message published from the board, with its acknowledgement.
type Sent struct {
	Message client.Message
	Time    time.Time
	Ack     *client.Ack
	Err     string
}

// Conn is one connection of the board.
type Conn struct {
	ID      common.ConnID
	Index   int // creation order, picks the colour
	Color   lipgloss.Color
	Profile profiles.Profile

	Status  Status
	Err     string
	Connack *client.Connack
	// Attempt counts the failed connection attempts since the last
	// success (the board's own retries of a first connect, and the client's
	// reconnects after a loss); NextTry is when the next one starts.
	Attempt int
	NextTry time.Time
	// Generation counts clients made; results from an older client are
	// ignored.
	Generation int

	Subs     []*Subscription
	Messages *History[Message]
	Topics   *Topic
	// Packets is the packet log: every packet in and out, and the
	// connection's events (loss, each retry and its error), recorded
	// always so L shows what happened before it was opened.
	Packets   *History[LogEntry]
	Sent      []Sent // newest last, at most PublishHistory
	LastSent  *Sent
	Received  uint64 // messages received in total
	RingDrops uint64 // events dropped before the board drained them

	cl      *client.Client
	events  *Ring[any]
	packets *Ring[client.TracePacket]
	tracing atomic.Bool
	// probes are the topics of the probe messages FindRetained publishes
	// to learn where the broker's retained set ends; when this connection
	// is subscribed to them they are dropped, never listed or counted.
	probes  []string
	scratch []any
	pscr    []client.TracePacket
}

// New returns a disconnected connection for p.
func New(id common.ConnID, index int, color lipgloss.Color, p profiles.Profile) *Conn {
	return &Conn{
		ID: id, Index: index, Color: color, Profile: p,
		Messages: NewHistory[Message](HistorySize),
		Topics:   NewTopic("", ""),
		Packets:  NewHistory[LogEntry](PacketLogSize),
		events:   NewRing[any](EventRingSize),
		packets:  NewRing[client.TracePacket](PacketRingSize),
	}
}

// SetTracing shows or hides the connection's packet log. Packets are
// recorded either way (into a bounded ring), so the log shows what
// happened before it was opened.
func (c *Conn) SetTracing(on bool) { c.tracing.Store(on) }

// Tracing reports whether the packet log is shown.
func (c *Conn) Tracing() bool { return c.tracing.Load() }

// LogEntry is one line of the packet log: a packet, or (Note set) an event
// of the connection such as its loss or a failed retry.
type LogEntry struct {
	client.TracePacket
	Note string
}

func (c *Conn) note(t time.Time, format string, args ...any) {
	c.Packets.Add(LogEntry{TracePacket: client.TracePacket{Time: t}, Note: fmt.Sprintf(format, args...)})
}

// Client is the current client, nil when never connected.
func (c *Conn) Client() *client.Client { return c.cl }

// Name is what the connection is called in lists.
func (c *Conn) Name() string {
	if c.Profile.Name != "" {
		return c.Profile.Name
	}
	return c.Profile.URL
}

// Results of requests, delivered as common.ConnMsg.

// ConnectResult is the answer to Connect.
type ConnectResult struct {
	Generation int
	Connack    *client.Connack
	Err        error
}

// retryMsg is the timer of the board's retry of a failed first connect.
type retryMsg struct{ generation int }

// Backoff of the board's own retries of a connect that failed: 1 s,
// doubling to 30 s, as the client's reconnect loop does after a loss.
const (
	retryMin = time.Second
	retryMax = 30 * time.Second
)

func retryDelay(attempt int) time.Duration {
	d := retryMin
	for i := 1; i < attempt && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// SubscribeResult is the answer to Subscribe.
type SubscribeResult struct {
	Sub *Subscription
	Ack *client.Ack
	Err error
}

// UnsubscribeResult is the answer to Unsubscribe.
type UnsubscribeResult struct {
	Filter string
	Err    error
}

// PublishResult is the answer to Publish.
type PublishResult struct {
	Sent Sent
}

// DeleteResult is the answer to DeleteRetained.
type DeleteResult struct {
	Count int
	Err   error
}

// stopped is pushed by the event goroutine when a client ends.
type stopped struct {
	generation int
	err        error
}

func (c *Conn) msg(m tea.Msg) tea.Msg { return common.ConnMsg{ConnID: c.ID, Msg: m} }

// Options turns the profile into client options.
func Options(p profiles.Profile) (client.Options, error) {
	o := client.Options{
		URL:                 p.URL,
		ClientID:            p.ClientID,
		Username:            p.Username,
		Persistent:          p.Persistent,
		RequestResponseInfo: p.RequestResponseInfo,
		UserProperties:      UserProps(p.User),
		TLS: client.TLSOptions{CAFile: p.CAFile, CertFile: p.CertFile, KeyFile: p.KeyFile, Insecure: p.Insecure,
			ServerName: p.SNI, ALPN: p.ALPN},
		ConnectTimeout: connectTimeout,
		Reconnect:      true,
	}
	switch p.Version {
	case "", "5":
		o.Version = packet.V5
	case "3.1.1":
		o.Version = packet.V311
	case "3.1":
		o.Version = packet.V31
	default:
		return o, fmt.Errorf("version %q: want 3.1, 3.1.1 or 5", p.Version)
	}
	// PasswordValue reads password_env when the file holds no password, so
	// a profile can keep its secret out of profiles.yaml.
	pw, ok, err := p.PasswordValue()
	if err != nil {
		return o, err
	}
	if ok {
		o.Password = []byte(pw)
	}
	if p.KeepAlive != 0 {
		o.KeepAlive = time.Duration(p.KeepAlive) * time.Second
	}
	if p.SessionExpiry != 0 {
		o.SessionExpiry = &p.SessionExpiry
	}
	if p.ReceiveMaximum != 0 {
		o.ReceiveMaximum = &p.ReceiveMaximum
	}
	if p.MaximumPacketSize != 0 {
		o.MaximumPacketSize = &p.MaximumPacketSize
	}
	if p.TopicAliasMaximum != 0 {
		o.TopicAliasMaximum = &p.TopicAliasMaximum
	}
	if w := p.Will; w != nil && w.Topic != "" {
		o.Will = &client.Message{Topic: w.Topic, Payload: []byte(w.Payload), QoS: w.QoS, Retain: w.Retain}
		o.Will.Props.WillDelay = w.Delay
		o.Will.Props.User = UserProps(w.User)
	}
	return o, nil
}

// UserProps converts saved user properties to packet ones.
func UserProps(u []profiles.UserProperty) []packet.UserProperty {
	if len(u) == 0 {
		return nil
	}
	out := make([]packet.UserProperty, len(u))
	for i, p := range u {
		out[i] = packet.UserProperty{Key: p.Key, Value: p.Value}
	}
	return out
}

// Connect closes any current client, makes a new one and connects it.
// The result arrives as a ConnectResult; the client's events go to the
// ring from a goroutine of their own, never to the tea.Program directly.
func (c *Conn) Connect() tea.Cmd {
	c.closeClient()
	opts, err := Options(c.Profile)
	if err == nil {
		opts.Trace = c.packets.Push
		c.cl, err = client.New(opts)
	}
	c.Generation++
	gen := c.Generation
	if err != nil {
		c.Status, c.Err, c.cl = Failed, Explain(err), nil
		return nil
	}
	c.Status, c.Err, c.Connack = Connecting, "", nil
	cl := c.cl
	go c.pump(cl, gen)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout+time.Second)
		defer cancel()
		ack, err := cl.Connect(ctx)
		if err != nil {
			cl.Close()
		}
		return c.msg(ConnectResult{Generation: gen, Connack: ack, Err: err})
	}
}

// pump moves cl's events into the ring until cl stops.
func (c *Conn) pump(cl *client.Client, gen int) {
	for {
		select {
		case e := <-cl.Events():
			c.events.Push(e)
		case <-cl.Done():
			for {
				select {
				case e := <-cl.Events():
					c.events.Push(e)
				default:
					c.events.Push(stopped{generation: gen, err: cl.Err()})
					return
				}
			}
		}
	}
}

// Disconnect sends DISCONNECT and stops the client.
func (c *Conn) Disconnect() {
	c.closeClient()
	c.Generation++ // a pending retry no longer counts
	c.Status, c.Err, c.Attempt = Disconnected, "", 0
}

func (c *Conn) closeClient() {
	if c.cl != nil {
		cl := c.cl
		c.cl = nil
		c.Generation++ // the old client's late events no longer count
		go cl.Close()
	}
}

// Close stops the connection for good (board exit, removal).
func (c *Conn) Close() {
	if c.cl != nil {
		c.cl.Close()
		c.cl = nil
	}
}

// Subscribe sends SUBSCRIBE for s and adds it to the list as pending.
func (c *Conn) Subscribe(s profiles.Subscription) tea.Cmd {
	sub := &Subscription{Subscription: s, Pending: true}
	for i, old := range c.Subs {
		if old.Filter == s.Filter {
			c.Subs = append(c.Subs[:i], c.Subs[i+1:]...)
			break
		}
	}
	c.Subs = append(c.Subs, sub)
	cl := c.cl
	if cl == nil {
		sub.Pending, sub.Err = false, "not connected"
		return nil
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		ack, err := cl.Subscribe(ctx, client.SubscribeProperties{SubscriptionID: s.ID, User: UserProps(s.User)},
			client.Subscription{Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling})
		return c.msg(SubscribeResult{Sub: sub, Ack: ack, Err: err})
	}
}

// Unsubscribe removes the subscription at i and sends UNSUBSCRIBE.
func (c *Conn) Unsubscribe(i int) tea.Cmd {
	if i < 0 || i >= len(c.Subs) {
		return nil
	}
	f := c.Subs[i].Filter
	c.Subs = append(c.Subs[:i], c.Subs[i+1:]...)
	cl := c.cl
	if cl == nil {
		return nil
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		_, err := cl.Unsubscribe(ctx, nil, f)
		return c.msg(UnsubscribeResult{Filter: f, Err: err})
	}
}

// Publish sends m; the PublishResult carries the acknowledgement.
func (c *Conn) Publish(m client.Message) tea.Cmd {
	cl := c.cl
	now := time.Now()
	if cl == nil {
		return func() tea.Msg { return c.msg(PublishResult{Sent{Message: m, Time: now, Err: "not connected"}}) }
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		ack, err := cl.Publish(ctx, &m)
		s := Sent{Message: m, Time: now, Ack: ack}
		if err != nil {
			s.Err = err.Error()
		}
		return c.msg(PublishResult{s})
	}
}

// DeleteRetained publishes an empty retained message to each topic, which
// deletes the retained message there [MQTT-3.3.1-6].
func (c *Conn) DeleteRetained(topics []string) tea.Cmd {
	cl := c.cl
	if cl == nil {
		return func() tea.Msg { return c.msg(DeleteResult{Err: client.ErrNotConnected}) }
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		n := 0
		for _, t := range topics {
			if _, err := cl.Publish(ctx, &client.Message{Topic: t, Retain: true, QoS: 1}); err != nil {
				return c.msg(DeleteResult{Count: n, Err: err})
			}
			n++
		}
		return c.msg(DeleteResult{Count: n})
	}
}

// Apply records the result of a request. It returns a status line for the
// user, or "", and a command to run (the timer of a retry, a new connect).
func (c *Conn) Apply(m tea.Msg) (status string, isErr bool, cmd tea.Cmd) {
	switch m := m.(type) {
	case ConnectResult:
		if m.Generation != c.Generation {
			return "", false, nil
		}
		now := time.Now()
		c.drainPackets() // the CONNECT and CONNACK before the note on them
		if m.Err != nil {
			// Retry with backoff from the first failure: a broker that is
			// not up yet, or a network that comes back, needs no keypress.
			c.Attempt++
			delay := retryDelay(c.Attempt)
			c.Status, c.Err, c.NextTry = Reconnecting, Explain(m.Err), now.Add(delay)
			c.cl = nil
			c.note(now, "connect attempt %d failed: %s; next try in %v", c.Attempt, c.Err, delay)
			gen := c.Generation
			return c.Name() + ": " + c.Err, true, tea.Tick(delay, func(time.Time) tea.Msg { return c.msg(retryMsg{gen}) })
		}
		c.Status, c.Connack, c.Attempt, c.Err = Connected, m.Connack, 0, ""
		c.note(now, "connected: CONNACK %v", m.Connack.Code)
		// Restore the board's subscriptions on a fresh connection.
		return "", false, nil
	case retryMsg:
		if m.generation != c.Generation || c.Status != Reconnecting || c.cl != nil {
			return "", false, nil // disconnected, reconnected or edited since
		}
		return "", false, c.Connect()
	case SubscribeResult:
		m.Sub.Pending = false
		if m.Ack != nil && len(m.Ack.Codes) > 0 {
			m.Sub.Code = m.Ack.Codes[0]
		}
		if m.Err != nil {
			m.Sub.Err = m.Err.Error()
			return "subscribe " + m.Sub.Filter + ": " + m.Err.Error(), true, nil
		}
		return "", false, nil
	case UnsubscribeResult:
		if m.Err != nil {
			return "unsubscribe " + m.Filter + ": " + m.Err.Error(), true, nil
		}
	case PublishResult:
		s := m.Sent
		c.Sent = append(c.Sent, s)
		if len(c.Sent) > PublishHistory {
			c.Sent = c.Sent[len(c.Sent)-PublishHistory:]
		}
		c.LastSent = &c.Sent[len(c.Sent)-1]
		if s.Err != "" {
			return "publish " + s.Message.Topic + ": " + s.Err, true, nil
		}
	case RetainedFound:
		if m.Err != nil {
			return fmt.Sprintf("retained messages under %s: %v", m.Path, m.Err), true, nil
		}
	case DeleteResult:
		if m.Err != nil {
			return fmt.Sprintf("deleted %d retained, then: %v", m.Count, m.Err), true, nil
		}
		return fmt.Sprintf("deleted %d retained messages", m.Count), false, nil
	}
	return "", false, nil
}

// ResubscribeCmds subscribes again to every subscription (after connect).
func (c *Conn) ResubscribeCmds() []tea.Cmd {
	var cmds []tea.Cmd
	subs := c.Subs
	c.Subs = nil
	for _, s := range subs {
		cmds = append(cmds, c.Subscribe(s.Subscription))
	}
	return cmds
}

// Drain moves what arrived since the last frame into the connection's
// state. It returns whether anything changed.
func (c *Conn) Drain() bool {
	// Packets first: the events (a loss, a reconnect) come after the
	// packets that led to them, and the log reads in that order.
	changed := c.drainPackets()
	var drops uint64
	c.scratch, drops = c.events.Drain(c.scratch[:0])
	c.RingDrops += drops
	changed = changed || len(c.scratch) > 0
	for i, e := range c.scratch {
		c.apply(e)
		c.scratch[i] = nil
	}
	return changed
}

// drainPackets moves the traced packets into the log.
func (c *Conn) drainPackets() bool {
	c.pscr, _ = c.packets.Drain(c.pscr[:0])
	for i := range c.pscr {
		c.Packets.Add(LogEntry{TracePacket: c.pscr[i]})
		c.pscr[i] = client.TracePacket{}
	}
	return len(c.pscr) > 0
}

func (c *Conn) apply(e any) {
	switch e := e.(type) {
	case *client.MessageEvent:
		if c.isProbe(e.Topic) {
			return
		}
		c.Received++
		seq := c.Messages.End()
		c.Messages.Add(Message{Seq: seq, MessageEvent: e})
		c.Topics.Add(e)
		for _, s := range c.Subs {
			if matchSub(s, e) {
				s.Count++
			}
		}
	case *client.ConnectedEvent:
		if c.cl != nil {
			c.Status, c.Err, c.Attempt = Connected, "", 0
			ack := e.Connack
			c.Connack = &ack
			c.note(e.Time, "reconnected: CONNACK %v", ack.Code)
		}
	case *client.ConnectionLostEvent:
		if c.cl != nil {
			c.Status, c.Err = Reconnecting, Explain(e.Err)
			c.note(e.Time, "connection lost: %s", c.Err)
		}
	case *client.ReconnectFailedEvent:
		if c.cl != nil {
			c.Attempt, c.Err, c.NextTry = e.Attempt, Explain(e.Err), e.Time.Add(e.Next)
			c.note(e.Time, "reconnect attempt %d failed: %s; next try in %v", e.Attempt, c.Err, e.Next)
		}
	case *client.DisconnectEvent:
		c.Err = "broker sent DISCONNECT: " + e.Code.String()
		if e.Props.ReasonString != "" {
			c.Err += " (" + e.Props.ReasonString + ")"
		}
		c.note(e.Time, "%s", c.Err)
	case stopped:
		if e.generation == c.Generation && c.cl != nil {
			c.cl = nil
			c.Status = Disconnected
			if e.err != nil {
				c.Status, c.Err = Failed, Explain(e.err)
			}
		}
	}
}

func matchSub(s *Subscription, e *client.MessageEvent) bool {
	if s.ID != 0 && len(e.Props.SubscriptionIDs) > 0 {
		for _, id := range e.Props.SubscriptionIDs {
			if int(id) == s.ID {
				return true
			}
		}
		return false
	}
	// The tree's one matcher: $share/g[:from:count]/, $filter/.../ and
	// per-level selectors as the broker reads them. A $filter's conditions
	// are not evaluated: the broker did that before it delivered.
	return packet.MatchFilter(s.Filter, e.Topic)
}

// maxProbes bounds the probe topics remembered: a probe this connection is
// not subscribed to never arrives to be forgotten.
const maxProbes = 16

func (c *Conn) addProbe(topic string) {
	if len(c.probes) == maxProbes {
		c.probes = append(c.probes[:0], c.probes[1:]...)
	}
	c.probes = append(c.probes, topic)
}

func (c *Conn) isProbe(topic string) bool {
	for _, p := range c.probes {
		if p == topic {
			return true
		}
	}
	return false
}

// ClearMessages empties the message history (the list's "clear").
func (c *Conn) ClearMessages() { c.Messages.Clear() }

// IsNotConnected reports whether err means there is no connection.
func IsNotConnected(err error) bool { return errors.Is(err, client.ErrNotConnected) }

// Push delivers an event as the client's event goroutine would (tests and
// benchmarks feed the frame path with it).
func (c *Conn) Push(e client.Event) { c.events.Push(e) }

// PushPacket records a traced packet as the client's trace hook does.
func (c *Conn) PushPacket(tp client.TracePacket) { c.packets.Push(tp) }
