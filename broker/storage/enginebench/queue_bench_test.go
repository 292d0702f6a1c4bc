package enginebench

import (
	"encoding/binary"
	"strconv"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/bbolt"
)

// BenchmarkQueuePattern is the write pattern of broker/storage after the
// group-commit rework (issue 14, step 3 of the throughput work): 10
// persistent sessions, each QoS 1 delivery one ~150-byte record (a 64-byte
// payload with topic and properties) put under the session's key space
// (bbolt: one nested bucket per session, as broker/storage lays it out;
// Pebble: a key prefix), deleted when the subscriber acknowledges it 100
// deliveries later, groups of 1,000 deliveries (1,000 puts, 1,000 deletes)
// per commit. cpu-ns/delivery is the process's CPU (getrusage: Pebble's
// background flushes and compactions included); "nosync" leaves the fsync
// out to show the engines' own CPU.
//
//	cd broker/storage/enginebench && go test -run '^$' -bench QueuePattern -benchtime 300000x
func BenchmarkQueuePattern(b *testing.B) {
	for _, sync := range []bool{false, true} {
		for _, eng := range []string{"bbolt", "pebble"} {
			name := eng + "/nosync"
			if sync {
				name = eng + "/sync"
			}
			b.Run(name, func(b *testing.B) { runQueue(b, eng, sync) })
		}
	}
}

type queueKV interface {
	commit(puts []qop, dels []qop) error
	close() error
}

type qop struct {
	session int
	seq     uint64
	value   []byte
}

type boltQueue struct {
	db    *bbolt.DB
	names [][]byte
}

func (k *boltQueue) commit(puts, dels []qop) error {
	return k.db.Update(func(tx *bbolt.Tx) error {
		qs := tx.Bucket(bucketQ)
		var key [8]byte
		for _, p := range puts {
			sb := qs.Bucket(k.names[p.session])
			if sb == nil {
				var err error
				if sb, err = qs.CreateBucket(k.names[p.session]); err != nil {
					return err
				}
			}
			sb.FillPercent = 0.9
			binary.BigEndian.PutUint64(key[:], p.seq)
			if err := sb.Put(key[:], p.value); err != nil {
				return err
			}
		}
		for _, d := range dels {
			binary.BigEndian.PutUint64(key[:], d.seq)
			if err := qs.Bucket(k.names[d.session]).Delete(key[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (k *boltQueue) close() error { return k.db.Close() }

type pebbleQueue struct {
	db   *pebble.DB
	sync bool
}

var pebblePrefixes = func() (p [][]byte) {
	for i := range 10 {
		p = append(p, []byte("qclient-"+strconv.Itoa(i)+"\x00"))
	}
	return p
}()

func pkey(dst []byte, o qop) []byte {
	dst = append(dst[:0], pebblePrefixes[o.session]...)
	return binary.BigEndian.AppendUint64(dst, o.seq)
}

func (k *pebbleQueue) commit(puts, dels []qop) error {
	bt := k.db.NewBatch()
	var key []byte
	for _, p := range puts {
		key = pkey(key, p)
		if err := bt.Set(key, p.value, nil); err != nil {
			return err
		}
	}
	for _, d := range dels {
		key = pkey(key, d)
		if err := bt.Delete(key, nil); err != nil {
			return err
		}
	}
	opt := pebble.NoSync
	if k.sync {
		opt = pebble.Sync
	}
	return bt.Commit(opt)
}

func (k *pebbleQueue) close() error { return k.db.Close() }

func runQueue(b *testing.B, eng string, sync bool) {
	dir := b.TempDir()
	var db queueKV
	switch eng {
	case "bbolt":
		bdb, err := bbolt.Open(dir+"/bolt.db", 0o600, &bbolt.Options{FreelistType: bbolt.FreelistMapType, NoSync: !sync})
		if err != nil {
			b.Fatal(err)
		}
		if err := bdb.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucketQ); return err }); err != nil {
			b.Fatal(err)
		}
		bq := &boltQueue{db: bdb}
		for i := range 10 {
			bq.names = append(bq.names, []byte("cclient-"+strconv.Itoa(i)))
		}
		db = bq
	default:
		pdb, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
		if err != nil {
			b.Fatal(err)
		}
		db = &pebbleQueue{db: pdb, sync: sync}
	}
	defer db.close()
	value := make([]byte, 150)
	const sessionsQ, lag, group = 10, 100, 1000
	var puts, dels []qop
	u0 := cpuNanos()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := i % sessionsQ
		seq := uint64(i / sessionsQ)
		puts = append(puts, qop{session: s, seq: seq, value: value})
		if seq >= lag {
			dels = append(dels, qop{session: s, seq: seq - lag})
		}
		if len(puts) >= group || i == b.N-1 {
			if err := db.commit(puts, dels); err != nil {
				b.Fatal(err)
			}
			puts, dels = puts[:0], dels[:0]
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNanos()-u0)/float64(b.N), "cpu-ns/delivery")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
