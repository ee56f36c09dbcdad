package alert

import (
	"math/bits"
	"strconv"
)

// portSet holds destination ports: a short list while small (most scans of
// one service, and every candidate that never becomes an alert), a 8 KiB
// bitmap once it grows, so memory per episode is bounded either way.
type portSet struct {
	small []uint16
	bits  *[1024]uint64
	n     int
}

const portSetSmall = 32

func (s *portSet) add(p uint16) {
	if s.bits != nil {
		w, b := p>>6, uint64(1)<<(p&63)
		if s.bits[w]&b == 0 {
			s.bits[w] |= b
			s.n++
		}
		return
	}
	for _, q := range s.small {
		if q == p {
			return
		}
	}
	if len(s.small) < portSetSmall {
		s.small = append(s.small, p)
		s.n++
		return
	}
	s.bits = new([1024]uint64)
	for _, q := range s.small {
		s.bits[q>>6] |= 1 << (q & 63)
	}
	s.small = nil
	s.add(p)
}

// Len is the number of distinct ports.
func (s *portSet) Len() int { return s.n }

// maxRanges bounds the text of a port list: nmap's default "top 1000" is
// scattered over ~600 ranges, and an alert line must stay readable.
const maxRanges = 64

// appendRanges appends the ports in compact form, "1-100,443,8080", cut
// after maxRanges ranges with ",...".
func (s *portSet) appendRanges(b []byte) []byte {
	ranges := 0
	emit := func(lo, hi int) bool {
		if ranges == maxRanges {
			b = append(b, ",..."...)
			return false
		}
		if ranges > 0 {
			b = append(b, ',')
		}
		ranges++
		b = strconv.AppendInt(b, int64(lo), 10)
		if hi > lo {
			b = append(b, '-')
			b = strconv.AppendInt(b, int64(hi), 10)
		}
		return true
	}
	lo, prev := -2, -2
	next := s.iter()
	for p := next(); p >= 0; p = next() {
		if p == prev+1 {
			prev = p
			continue
		}
		if lo >= 0 && !emit(lo, prev) {
			return b
		}
		lo, prev = p, p
	}
	if lo >= 0 {
		emit(lo, prev)
	}
	return b
}

// iter returns the ports in increasing order, then -1.
func (s *portSet) iter() func() int {
	if s.bits == nil {
		sorted := append([]uint16(nil), s.small...)
		for i := 1; i < len(sorted); i++ { // tiny: insertion sort
			for j := i; j > 0 && sorted[j] < sorted[j-1]; j-- {
				sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
			}
		}
		i := 0
		return func() int {
			if i == len(sorted) {
				return -1
			}
			i++
			return int(sorted[i-1])
		}
	}
	w := 0
	cur := s.bits[0]
	return func() int {
		for cur == 0 {
			w++
			if w == len(s.bits) {
				return -1
			}
			cur = s.bits[w]
		}
		b := bits.TrailingZeros64(cur)
		cur &= cur - 1
		return w<<6 | b
	}
}
