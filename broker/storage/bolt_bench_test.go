package storage

import (
	"context"
	"sync/atomic"
	"testing"
)

// BenchmarkBoltApply is publishers waiting for durability, as a PUBACK
// will: each goroutine applies one 256-byte queued message and waits for
// its Commit before the next, so throughput comes only from group commit.
//
//	go test -run '^$' -bench BoltApply -benchtime 2s ./broker/storage/
func BenchmarkBoltApply(b *testing.B) {
	for _, mode := range []FsyncMode{FsyncBatch, FsyncAlways, FsyncNever} {
		b.Run(mode.String(), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{Fsync: mode})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var seq atomic.Uint64
			payload := make([]byte, 256)
			b.SetParallelism(32) // 64 publishers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					var bt Batch
					n := seq.Add(1)
					bt.PutMessage("sub", Message{Seq: n, QoS: 1, Topic: "t", Payload: payload})
					if err := s.Apply(&bt).Wait(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
			b.ReportMetric(float64(b.N)/float64(s.groups.Load()), "msg/commit")
		})
	}
}
