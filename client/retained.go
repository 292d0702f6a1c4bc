package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CollectRetained subscribes to filter and returns the retained messages
// the broker holds under it, sorted by topic (brokers deliver them in their
// own order). It works on any broker: the end of the retained messages is
// found by a probe — after subscribing to filter it subscribes to probe and
// publishes one non-retained message there, which brokers deliver after the
// retained ones. complete is false when the probe did not come back within
// timeout (e.g. the client may not publish to probe); found then holds what
// arrived. Nobody else may read c's Events meanwhile. The subscriptions stay
// in place; unsubscribe from filter and probe when done.
func (c *Client) CollectRetained(ctx context.Context, filter, probe string, timeout time.Duration) (found []*MessageEvent, complete bool, err error) {
	if _, err := c.Subscribe(ctx, SubscribeProperties{}, Subscription{Filter: filter, QoS: 1}); err != nil {
		return nil, false, err
	}
	if _, err := c.Subscribe(ctx, SubscribeProperties{}, Subscription{Filter: probe}); err != nil {
		return nil, false, err
	}
	var id [8]byte
	rand.Read(id[:])
	probeID := hex.EncodeToString(id[:])
	if _, err := c.Publish(ctx, &Message{Topic: probe, Payload: []byte(probeID)}); err != nil {
		return nil, false, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	seen := map[string]bool{}
	defer func() {
		slices.SortFunc(found, func(a, b *MessageEvent) int { return strings.Compare(a.Topic, b.Topic) })
	}()
	for {
		select {
		case <-ctx.Done():
			return found, false, ctx.Err()
		case <-t.C:
			return found, false, nil
		case <-c.Done():
			return found, false, fmt.Errorf("connection to %s lost: %v", c.URL(), c.Err())
		case ev := <-c.Events():
			m, ok := ev.(*MessageEvent)
			if !ok {
				continue
			}
			if m.Topic == probe && string(m.Payload) == probeID {
				return found, true, nil
			}
			if m.Retain && len(m.Payload) > 0 && !seen[m.Topic] {
				seen[m.Topic] = true
				found = append(found, m)
			}
		}
	}
}
