package bus

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// Every bucket belongs to exactly one of n instances, for every n.
func TestInstanceSubjectsCoverEveryBucketOnce(t *testing.T) {
	for n := 1; n <= Buckets; n++ {
		owner := map[string]int{}
		for i := range n {
			subs, err := InstanceSubjects(i, n)
			if err != nil {
				t.Fatal(err)
			}
			if subs[len(subs)-1] != RowsPrefix+"*.clock" {
				t.Fatalf("instance %d of %d does not get the heartbeats", i, n)
			}
			for _, s := range subs[:len(subs)-1] {
				if _, dup := owner[s]; dup {
					t.Fatalf("%s twice", s)
				}
				owner[s] = i
			}
		}
		if len(owner) != Buckets {
			t.Fatalf("%d instances cover %d buckets", n, len(owner))
		}
	}
	for _, bad := range [][2]int{{0, 0}, {1, 1}, {-1, 2}, {0, Buckets + 1}} {
		if _, err := InstanceSubjects(bad[0], bad[1]); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// Every address of a /24 (/64) lands in its subnet's bucket.
func TestBucketIsTheSubnets(t *testing.T) {
	b := DefaultBucketing
	for _, net := range []string{"198.18.7.%d", "fd00:7::%x", "10.1.2.%d"} {
		first := b.Bucket(netip.MustParseAddr(fmt.Sprintf(net, 1)))
		for h := 2; h < 255; h++ {
			if got := b.Bucket(netip.MustParseAddr(fmt.Sprintf(net, h))); got != first {
				t.Fatalf("%s: host %d in bucket %d, host 1 in %d", net, h, got, first)
			}
		}
	}
	seen := map[int]bool{}
	for i := range 256 {
		seen[b.Bucket(netip.AddrFrom4([4]byte{198, 18, byte(i), 1}))] = true
	}
	if len(seen) < Buckets*3/4 {
		t.Errorf("256 subnets fill only %d buckets", len(seen))
	}
}

func TestNamesAndSubjects(t *testing.T) {
	for _, ok := range []string{"edge-a", "s_1", "X"} {
		if err := CheckName(ok); err != nil {
			t.Error(err)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "a*", ">", strings.Repeat("x", 65)} {
		if CheckName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !IsClock(ClockSubject("edge-a")) || IsClock(RowSubject("edge-a", 3)) || subjectSensor(RowSubject("edge-a", 3)) != "edge-a" {
		t.Error("subjects")
	}
	c, err := ParseClock([]byte(`{"sensor":"edge-a","time":5,"rows":3,"published":3,"final":true}`))
	if err != nil || c.Sensor != "edge-a" || c.Time != 5 || !c.Final {
		t.Errorf("%+v %v", c, err)
	}
	if _, err := ParseClock([]byte("{")); err == nil {
		t.Error("bad heartbeat accepted")
	}
}

func ExampleInstanceSubjects() {
	// The second of two central instances: buckets 32 to 63 of every
	// sensor, and every sensor's heartbeats.
	subs, _ := InstanceSubjects(1, 2)
	fmt.Println(len(subs), subs[0], subs[len(subs)-2], subs[len(subs)-1])
	// A source and its /24 neighbour land in the same bucket, whichever
	// sensor saw them.
	b := DefaultBucketing
	fmt.Println(b.Bucket(netip.MustParseAddr("198.18.7.10")) == b.Bucket(netip.MustParseAddr("198.18.7.17")))
	// Output:
	// 33 scanwatch.rows.*.32 scanwatch.rows.*.63 scanwatch.rows.*.clock
	// true
}
