//go:build !linux

package netns

import "errors"

var errNoTAP = errors.New("TAP devices need Linux")

func openTAP(ns, name string) (int, error) { return -1, errNoTAP }

func closeFD(int) {}

type delayLine struct{}

func startLine([2]int, Delay) (*delayLine, error) { return nil, errNoTAP }

func (*delayLine) close() error { return nil }

func (*delayLine) watch(ns, devs [2]string) error { return errNoTAP }

func (*delayLine) stats() DelayStats { return DelayStats{} }

// Do needs Linux's setns.
func Do(string, func() error) error { return errors.New("network namespaces need Linux") }
