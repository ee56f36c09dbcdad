package session

// index is an open-addressing hash table of sessions by key hash, with
// linear probing and backward-shift deletion. The session table inserts and
// deletes a key for every session; Go's built-in map leaves a tombstone per
// delete and, under that churn, spent a sixth of all CPU time probing past
// them. Backward-shift deletion leaves none.
type index struct {
	slots []*session
	mask  uint64
	n     int
}

func newIndex() index {
	const size = 1 << 12
	return index{slots: make([]*session, size), mask: size - 1}
}

func (x *index) lookup(h uint64, k *key) *session {
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		s := x.slots[i]
		if s == nil {
			return nil
		}
		if s.h == h && s.k == *k {
			return s
		}
	}
}

func (x *index) insert(s *session) {
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
	}
	i := s.h & x.mask
	for x.slots[i] != nil {
		i = (i + 1) & x.mask
	}
	x.slots[i] = s
	x.n++
}

func (x *index) grow() {
	old := x.slots
	x.slots = make([]*session, 2*len(old))
	x.mask = uint64(len(x.slots) - 1)
	for _, s := range old {
		if s != nil {
			i := s.h & x.mask
			for x.slots[i] != nil {
				i = (i + 1) & x.mask
			}
			x.slots[i] = s
		}
	}
}

func (x *index) remove(s *session) {
	i := s.h & x.mask
	for x.slots[i] != s {
		i = (i + 1) & x.mask
	}
	// Shift later members of the probe run back so that no lookup ever
	// stops early at the hole.
	for j := (i + 1) & x.mask; ; j = (j + 1) & x.mask {
		t := x.slots[j]
		if t == nil {
			break
		}
		home := t.h & x.mask
		// t may move to i if its home is not in the cyclic range (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			x.slots[i] = t
			i = j
		}
	}
	x.slots[i] = nil
	x.n--
}
