package session

import (
	"math/rand/v2"
	"testing"
)

// TestIndexAgainstMap churns the index with inserts and deletes, with a
// tiny hash space so that probe runs wrap and collide, and checks every
// lookup against a map.
func TestIndexAgainstMap(t *testing.T) {
	x := newIndex()
	ref := map[key]*session{}
	rng := rand.New(rand.NewPCG(1, 2))
	var live []*session
	for step := 0; step < 200000; step++ {
		if len(live) > 0 && (rng.IntN(2) == 0 || len(live) > 3000) {
			i := rng.IntN(len(live))
			s := live[i]
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
			x.remove(s)
			delete(ref, s.k)
			continue
		}
		var k key
		k.pa = uint16(rng.IntN(65536))
		k.pb = uint16(step)
		if _, dup := ref[k]; dup {
			continue
		}
		s := &session{k: k, h: uint64(rng.IntN(64)) | uint64(len(x.slots)-64)}
		x.insert(s)
		ref[k] = s
		live = append(live, s)
		if step%997 == 0 {
			for k, want := range ref {
				if got := x.lookup(want.h, &k); got != want {
					t.Fatalf("step %d: lookup lost a session", step)
				}
			}
		}
	}
	if x.n != len(ref) {
		t.Fatalf("count %d, want %d", x.n, len(ref))
	}
}
