package storage

import (
	"context"
	"time"
)

// sweep implements [Store.Sweep] over the read methods and one batch, so
// every engine expires records by the same rules. The batch's deletions
// re-check expiry when applied, so a write between the reads and the
// batch (a reconnect, a republished retained message) wins. The counts
// are of what the reads found expired.
func sweep(ctx context.Context, s Store, now time.Time) (SweepStats, error) {
	var st SweepStats
	var b Batch
	var live []string
	err := s.Sessions(func(ss Session) error {
		if sessionExpired(ss, now) {
			b.sweepSession(ss.ClientID, now)
			st.Sessions++
		} else {
			live = append(live, ss.ClientID)
		}
		return ctx.Err()
	})
	if err != nil {
		return SweepStats{}, err
	}
	for _, id := range live {
		err := s.Messages(id, func(m Message) error {
			if messageExpired(m, now) {
				b.sweepMessage(id, m.Seq, now)
				st.Messages++
			}
			return ctx.Err()
		})
		if err != nil {
			return SweepStats{}, err
		}
	}
	err = s.Retained(func(r Retained) error {
		if expired(r.Expires, now) {
			b.sweepRetained(r.Topic, now)
			st.Retained++
		}
		return ctx.Err()
	})
	if err != nil {
		return SweepStats{}, err
	}
	if b.Len() == 0 {
		return st, nil
	}
	return st, s.Apply(&b).Wait(ctx)
}

func sessionExpired(s Session, now time.Time) bool {
	if s.DisconnectedAt.IsZero() || s.ExpiryInterval == NeverExpire {
		return false
	}
	return !now.Before(s.DisconnectedAt.Add(time.Duration(s.ExpiryInterval) * time.Second))
}

func expired(at, now time.Time) bool { return !at.IsZero() && !now.Before(at) }

func messageExpired(m Message, now time.Time) bool {
	return m.State == Queued && expired(m.Expires, now)
}
