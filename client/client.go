// Package client is mqttboard's MQTT client: one [Client] for MQTT 3.1,
// 3.1.1 and 5.0 over TCP, TLS, WebSocket and secure WebSocket, with every
// CONNECT, PUBLISH and SUBSCRIBE field exposed, events on a channel, an
// optional reconnect that restores subscriptions, and a packet trace.
//
// MQTT 5 runs over github.com/eclipse/paho.golang and 3.1/3.1.1 over
// github.com/eclipse/paho.mqtt.golang; Client hides which. The network
// connection is always dialled here and handed to the library, so the
// dialers and the packet trace are the same for both.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttboard/mqttboard/packet"
)

// ErrNotConnected is returned by requests made while the client has no
// connection (before Connect, after Close, or while reconnecting).
var ErrNotConnected = errors.New("not connected to the broker")

// Client is one MQTT connection. Its methods are safe for concurrent use.
type Client struct {
	opts Options
	url  *url.URL

	events chan Event
	closed chan struct{} // closed by Close
	done   chan struct{} // closed when the client stops for good

	mu      sync.Mutex
	sess    session
	conn    net.Conn        // the current network connection, for Abort
	subs    []subscribeCall // replayed after a reconnect
	lostErr error
	closing bool
	wg      sync.WaitGroup
}

type subscribeCall struct {
	subs  []Subscription
	props SubscribeProperties
}

// New checks opts and returns a client that is not connected yet.
func New(opts Options) (*Client, error) {
	if err := opts.applyDefaults(); err != nil {
		return nil, err
	}
	u, _ := ParseURL(opts.URL)
	return &Client{
		opts:   opts,
		url:    u,
		events: make(chan Event, opts.EventBuffer),
		closed: make(chan struct{}),
		done:   make(chan struct{}),
	}, nil
}

// URL is the broker URL in use, with default port and path filled in and
// without credentials.
func (c *Client) URL() string {
	u := *c.url
	u.User = nil
	return u.String()
}

// Events delivers what happens on the connection. Messages wait for room
// (so a slow reader slows the broker, and nothing is lost); other events
// are dropped when the channel is full. It is never closed: watch
// [Client.Done] too.
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the client has stopped: after Close, or when the
// connection was lost and Options.Reconnect is off. [Client.Err] says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the client stopped, nil after Close.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lostErr
}

// Connect dials the broker and performs CONNECT/CONNACK. Errors are a
// *DialError when the broker could not be reached, a *RefusedError when it
// answered with a failure reason code, or the context's error.
func (c *Client) Connect(ctx context.Context) (*Connack, error) {
	sess, ca, err := c.connectOnce(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.sess = sess
	c.mu.Unlock()
	c.emit(&ConnectedEvent{Connack: *ca, Time: time.Now()})
	c.wg.Add(1)
	go c.watch(sess)
	return ca, nil
}

func (c *Client) connectOnce(ctx context.Context) (session, *Connack, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	defer cancel()
	var certAsked atomic.Bool
	conn, err := dial(ctx, c.url, &c.opts, &certAsked)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, nil, ctx.Err()
		}
		return nil, nil, &DialError{URL: c.URL(), Err: err}
	}
	conn = newBatchConn(conn)
	if c.opts.Trace != nil {
		conn = newTraceConn(conn, c.opts.Version, c.opts.Trace)
	}
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	var (
		sess session
		ca   *Connack
	)
	if c.opts.Version == packet.V5 {
		var s *v5Session
		s, ca, err = connectV5(ctx, &c.opts, conn, c)
		if s != nil {
			sess = s
		}
	} else {
		var s *v3Session
		s, ca, err = connectV3(ctx, &c.opts, conn, c)
		if s != nil {
			sess = s
		}
	}
	if err != nil {
		conn.Close()
		var re *RefusedError
		if errors.As(err, &re) {
			re.URL = c.URL()
			return nil, nil, re
		}
		if pe := context.Cause(ctx); pe != nil && !errors.Is(pe, context.DeadlineExceeded) {
			return nil, nil, pe
		}
		if certAsked.Load() {
			err = fmt.Errorf("%w (%w)", err, errCertRequired)
		}
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, &DialError{URL: c.URL(), Err: fmt.Errorf("no CONNACK: %w", err)}
		}
		return nil, nil, &DialError{URL: c.URL(), Err: fmt.Errorf("MQTT handshake failed: %w", err)}
	}
	return sess, ca, nil
}

// watch waits for the session to end, then reconnects or stops the client.
func (c *Client) watch(sess session) {
	defer c.wg.Done()
	for {
		select {
		case <-c.closed:
			return
		case <-sess.done():
		}
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			return
		}
		err := sess.err()
		c.emit(&ConnectionLostEvent{Err: err, Time: time.Now()})
		if !c.opts.Reconnect {
			c.stop(err)
			return
		}
		c.mu.Lock()
		c.sess = nil
		c.mu.Unlock()
		sess = c.reconnect()
		if sess == nil {
			return // closed while reconnecting
		}
	}
}

// reconnect dials until it succeeds or the client is closed, waiting
// ReconnectMin, doubling up to ReconnectMax, between attempts; then it
// replays the subscriptions.
func (c *Client) reconnect() session {
	backoff := c.opts.ReconnectMin
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(backoff)
		select {
		case <-c.closed:
			t.Stop()
			return nil
		case <-t.C:
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-c.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		sess, ca, err := c.connectOnce(ctx)
		if err == nil {
			c.mu.Lock()
			subs := append([]subscribeCall(nil), c.subs...)
			c.mu.Unlock()
			for _, s := range subs {
				if _, err = sess.subscribe(ctx, s.subs, s.props); err != nil {
					break
				}
			}
			if err == nil {
				cancel()
				c.mu.Lock()
				if c.closing {
					// Close ran while we were connecting: it could not see
					// this session, so end it here.
					c.mu.Unlock()
					sess.disconnect()
					return nil
				}
				c.sess = sess
				c.mu.Unlock()
				c.emit(&ConnectedEvent{Connack: *ca, Time: time.Now()})
				return sess
			}
			sess.disconnect()
		}
		cancel()
		backoff *= 2
		if backoff > c.opts.ReconnectMax {
			backoff = c.opts.ReconnectMax
		}
		c.emit(&ReconnectFailedEvent{Attempt: attempt, Err: err, Next: backoff, Time: time.Now()})
	}
}

func (c *Client) stop(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
	default:
		c.lostErr = err
		close(c.done)
	}
}

func (c *Client) current() (session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return nil, ErrNotConnected
	}
	return c.sess, nil
}

// Publish sends m and, for QoS 1 and 2, waits for the acknowledgement.
// A failure reason code (MQTT 5) is returned as the Ack and a
// *ReasonError.
func (c *Client) Publish(ctx context.Context, m *Message) (*Ack, error) {
	s, err := c.current()
	if err != nil {
		return nil, err
	}
	a, err := s.publish(ctx, m)
	if err != nil {
		return a, fmt.Errorf("publish to %s: %w", m.Topic, err)
	}
	if m.QoS > 0 {
		c.emit(&AckEvent{Ack: *a, Time: time.Now()})
	}
	if code, bad := a.Failed(); bad {
		return a, &ReasonError{Op: "publish to " + m.Topic, Packet: a.Type, Code: code, ReasonString: a.ReasonString}
	}
	return a, nil
}

// Subscribe sends one SUBSCRIBE with subs and waits for the SUBACK. When
// any filter is refused the Ack is returned with a *ReasonError naming the
// first refused filter. Accepted subscriptions are restored on reconnect.
func (c *Client) Subscribe(ctx context.Context, props SubscribeProperties, subs ...Subscription) (*Ack, error) {
	s, err := c.current()
	if err != nil {
		return nil, err
	}
	a, err := s.subscribe(ctx, subs, props)
	if err != nil {
		return a, fmt.Errorf("subscribe to %s: %w", filters(subs), err)
	}
	c.emit(&AckEvent{Ack: *a, Time: time.Now()})
	for i, code := range a.Codes {
		if code >= 0x80 && i < len(subs) {
			return a, &ReasonError{Op: "subscribe to " + subs[i].Filter, Packet: packet.SUBACK, Code: code, ReasonString: a.ReasonString}
		}
	}
	c.mu.Lock()
	c.subs = append(c.subs, subscribeCall{subs: append([]Subscription(nil), subs...), props: props})
	c.mu.Unlock()
	return a, nil
}

// Unsubscribe removes subscriptions; they are no longer restored on
// reconnect.
func (c *Client) Unsubscribe(ctx context.Context, user []packet.UserProperty, filterList ...string) (*Ack, error) {
	s, err := c.current()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	drop := make(map[string]bool, len(filterList))
	for _, f := range filterList {
		drop[f] = true
	}
	kept := c.subs[:0]
	for _, call := range c.subs {
		var left []Subscription
		for _, sub := range call.subs {
			if !drop[sub.Filter] {
				left = append(left, sub)
			}
		}
		if len(left) > 0 {
			call.subs = left
			kept = append(kept, call)
		}
	}
	c.subs = kept
	c.mu.Unlock()
	a, err := s.unsubscribe(ctx, filterList, user)
	if err == nil {
		c.emit(&AckEvent{Ack: *a, Time: time.Now()})
	}
	return a, err
}

// Abort closes the network connection without DISCONNECT, as a network
// failure would: the broker then publishes the will, and with
// Options.Reconnect the client reconnects. It is a debugging tool (test a
// will, test reconnect handling), not a way to end a session.
func (c *Client) Abort() {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

// Close sends DISCONNECT (normal disconnection), closes the connection and
// stops reconnecting. It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	sess := c.sess
	c.sess = nil
	close(c.closed)
	c.mu.Unlock()
	var err error
	if sess != nil {
		err = sess.disconnect()
	}
	c.wg.Wait()
	c.stop(nil)
	return err
}

func filters(subs []Subscription) string {
	s := ""
	for i, sub := range subs {
		if i > 0 {
			s += ", "
		}
		s += sub.Filter
	}
	return s
}

// emit delivers a non-message event, dropping it when nobody keeps up.
func (c *Client) emit(e Event) {
	select {
	case c.events <- e:
	default:
	}
}

func (c *Client) onMessage(m Message) {
	select {
	case c.events <- &MessageEvent{Message: m, Time: time.Now()}:
	case <-c.closed:
	}
}

func (c *Client) onServerDisconnect(e *DisconnectEvent) { c.emit(e) }
