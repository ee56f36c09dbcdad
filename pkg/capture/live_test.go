package capture

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"scanwatch/pkg/netns"
)

// TestFanoutGroupOnLoopback opens a fanout group of 3 sockets, with a
// filter expression, on the loopback interface of a test namespace (so no
// other traffic shares it), and makes TCP connections to two ports there.
// Every packet to the filtered port arrives exactly once over the group
// (the filter composes with loopback's outgoing-copy test), none of the
// other port's, both directions of a connection reach the same socket,
// and that socket is the one FlowHash names: the kernel runs the
// program FlowHash mirrors.
func TestFanoutGroupOnLoopback(t *testing.T) {
	if why := netns.Available(); why != "" {
		t.Skip(why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := netns.New(ctx, 60+rand.IntN(40))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	filter, err := CompileFilter(ctx, "tcp port 7001", layers.LinkTypeEthernet, 262144)
	if err != nil {
		t.Skip(err) // no tcpdump
	}
	var srcs []*Source
	var ln7001, ln7002 net.Listener
	err = netns.Do(p.Target, func() error {
		var err error
		if srcs, err = OpenLiveGroup("lo", 3, LiveOptions{PollTimeout: 10 * time.Millisecond, Filter: filter}); err != nil {
			return err
		}
		if ln7001, err = net.Listen("tcp", "127.0.0.1:7001"); err != nil {
			return err
		}
		ln7002, err = net.Listen("tcp", "127.0.0.1:7002")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range srcs {
			s.Close()
		}
	}()
	for _, ln := range []net.Listener{ln7001, ln7002} {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("hello"))
				c.Close()
			}
		}()
		defer ln.Close()
	}
	const conns = 40
	for i := 0; i < conns; i++ {
		for _, port := range []int{7001, 7002} {
			err := netns.Do(p.Target, func() error {
				c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					return err
				}
				buf := make([]byte, 16)
				c.Read(buf)
				return c.Close()
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(300 * time.Millisecond)

	type seen struct{ worker, packets int }
	flows := map[[2]uint16]*seen{} // by (client port, server port)
	var mu sync.Mutex
	var wg sync.WaitGroup
	hash := FlowHash(layers.LinkTypeEthernet)
	for w, s := range srcs {
		wg.Go(func() {
			for {
				data, _, err := s.ReadPacketData()
				if err != nil {
					if IsTimeout(err) {
						return // drained
					}
					t.Error(err)
					return
				}
				if len(data) < 14+20+4 || data[23] != 6 {
					t.Errorf("worker %d got a packet the filter should have rejected: % x", w, data)
					continue
				}
				tcp := data[14+int(data[14]&0xf)*4:]
				sp, dp := binary.BigEndian.Uint16(tcp), binary.BigEndian.Uint16(tcp[2:])
				if want := int(hash(data) % 3); want != w {
					t.Errorf("packet %d→%d reached worker %d, FlowHash says %d", sp, dp, w, want)
				}
				k := [2]uint16{sp, dp}
				if dp < sp {
					k = [2]uint16{dp, sp}
				}
				if k[0] != 7001 && k[1] != 7001 {
					t.Errorf("packet %d→%d passed the filter tcp port 7001", sp, dp)
				}
				mu.Lock()
				f := flows[k]
				if f == nil {
					f = &seen{worker: w}
					flows[k] = f
				}
				if f.worker != w {
					t.Errorf("flow %v on workers %d and %d", k, f.worker, w)
				}
				f.packets++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(flows) != conns {
		t.Errorf("%d flows to port 7001, want %d", len(flows), conns)
	}
	used := map[int]bool{}
	for k, f := range flows {
		used[f.worker] = true
		// SYN, SYN+ACK, ACK, data, ACK, FIN... about ten; twice as many would
		// mean loopback's outgoing copies got through.
		if f.packets < 6 || f.packets > 14 {
			t.Errorf("flow %v: %d packets", k, f.packets)
		}
	}
	if len(used) < 2 {
		t.Errorf("all %d flows on one worker", len(flows))
	}
}
