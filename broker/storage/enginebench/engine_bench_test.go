// Package enginebench measures the embedded key-value engines that could
// hold the broker's persistent state, on the broker's own write pattern.
//
// It is a separate Go module on purpose: the comparison needs both engines,
// and the broker's go.mod keeps only the one that won (see BENCHMARKS.md).
// `go test ./...` at the repository root does not enter this module.
//
//	cd broker/storage/enginebench && go test -run '^$' -bench . -benchtime 3s
package enginebench

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/bbolt"
)

// kv is the least the workload needs from an engine: one atomic, fsynced
// batch of puts and deletes.
type kv interface {
	commit(puts [][2][]byte, dels [][]byte) error
	close() error
}

type boltKV struct{ db *bbolt.DB }

var (
	bucketQ = []byte("q")
)

func openBolt(b *testing.B, dir string) kv { return openBoltWith(b, dir, true) }

// openBoltSyncedFreelist is what broker/storage ships: the freelist is
// written on every commit, because rebuilding it on open (NoFreelistSync)
// panics in a bbolt goroutine on a damaged file.
func openBoltSyncedFreelist(b *testing.B, dir string) kv { return openBoltWith(b, dir, false) }

func openBoltWith(b *testing.B, dir string, noFreelistSync bool) kv {
	db, err := bbolt.Open(filepath.Join(dir, "bolt.db"), 0o600, &bbolt.Options{
		// The settings a write-heavy bbolt user would pick: the freelist is
		// rebuilt on open instead of written on every commit.
		NoFreelistSync: noFreelistSync,
		FreelistType:   bbolt.FreelistMapType,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketQ)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return &boltKV{db}
}

func (k *boltKV) commit(puts [][2][]byte, dels [][]byte) error {
	return k.db.Update(func(tx *bbolt.Tx) error {
		q := tx.Bucket(bucketQ)
		for _, p := range puts {
			if err := q.Put(p[0], p[1]); err != nil {
				return err
			}
		}
		for _, d := range dels {
			if err := q.Delete(d); err != nil {
				return err
			}
		}
		return nil
	})
}

func (k *boltKV) close() error { return k.db.Close() }

type pebbleKV struct{ db *pebble.DB }

func openPebble(b *testing.B, dir string) kv {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
	if err != nil {
		b.Fatal(err)
	}
	return &pebbleKV{db}
}

func (k *pebbleKV) commit(puts [][2][]byte, dels [][]byte) error {
	bt := k.db.NewBatch()
	for _, p := range puts {
		if err := bt.Set(p[0], p[1], nil); err != nil {
			return err
		}
	}
	for _, d := range dels {
		if err := bt.Delete(d, nil); err != nil {
			return err
		}
	}
	return bt.Commit(pebble.Sync)
}

func (k *pebbleKV) close() error { return k.db.Close() }

type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	panic("pebble fatal: " + format)
}

// valueSize draws the payload size: mostly small telemetry, a tail of large
// blobs, covering 64 B to 64 KB as the issue asks.
func valueSize(r *rand.Rand) int {
	switch p := r.IntN(100); {
	case p < 70:
		return 64
	case p < 90:
		return 1 << 10
	case p < 98:
		return 8 << 10
	default:
		return 64 << 10
	}
}

const (
	sessions  = 64   // persistent sessions receiving messages round-robin
	ackLag    = 2048 // messages in flight before the oldest is acked (deleted)
	topics    = 1000 // distinct retained topics
	retainPct = 10   // share of messages that also upsert a retained message
)

// run drives b.N messages through the broker's pattern: each message is
// appended to one session queue (key: 'q' session seq), 10 % also upsert a
// retained message ('r' topic), and the message ackLag behind is deleted
// (the subscriber's PUBACK). Every group messages make one fsynced commit.
func run(b *testing.B, open func(*testing.B, string) kv, group int) {
	dir := b.TempDir()
	db := open(b, dir)
	defer db.close()
	r := rand.New(rand.NewPCG(1, 2))
	blob := make([]byte, 64<<10)
	for i := range blob {
		blob[i] = byte(r.Uint32())
	}
	qkey := func(i int) []byte {
		k := make([]byte, 17)
		k[0] = 'q'
		binary.BigEndian.PutUint64(k[1:], uint64(i%sessions))
		binary.BigEndian.PutUint64(k[9:], uint64(i))
		return k
	}
	var puts [][2][]byte
	var dels [][]byte
	var bytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := valueSize(r)
		bytes += int64(n)
		puts = append(puts, [2][]byte{qkey(i), blob[:n]})
		if r.IntN(100) < retainPct {
			puts = append(puts, [2][]byte{[]byte("r/topic/" + strconv.Itoa(r.IntN(topics))), blob[:valueSize(r)]})
		}
		if i >= ackLag {
			dels = append(dels, qkey(i-ackLag))
		}
		if len(puts) >= group || i == b.N-1 {
			if err := db.commit(puts, dels); err != nil {
				b.Fatal(err)
			}
			puts, dels = puts[:0], dels[:0]
		}
	}
	b.StopTimer()
	b.SetBytes(bytes / int64(b.N))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	b.ReportMetric(float64(dirSize(dir))/float64(min(b.N, ackLag)), "disk-B/queued")
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func BenchmarkEngine(b *testing.B) {
	engines := []struct {
		name string
		open func(*testing.B, string) kv
	}{{"bbolt", openBolt}, {"bbolt-syncfreelist", openBoltSyncedFreelist}, {"pebble", openPebble}}
	for _, group := range []int{1, 64, 512} {
		for _, e := range engines {
			b.Run(e.name+"/group="+strconv.Itoa(group), func(b *testing.B) { run(b, e.open, group) })
		}
	}
}
