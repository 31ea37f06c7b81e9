//go:build linux

package alipaynotify_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/alipaynotify/alipaynotify"
)

// TestVerifyFloorRatio measures BenchmarkVerifyNotification's work against
// BenchmarkVerifyFloor's in alternating blocks of a few milliseconds, so that
// a burst of load from elsewhere on the machine hits both sides alike. It runs
// only when ALIPAYNOTIFY_RATIO is set (to the number of rounds, default 300):
//
//	ALIPAYNOTIFY_RATIO=300 go test -run TestVerifyFloorRatio -v .
func TestVerifyFloorRatio(t *testing.T) {
	env := os.Getenv("ALIPAYNOTIFY_RATIO")
	if env == "" {
		t.Skip("set ALIPAYNOTIFY_RATIO to run")
	}
	rounds, err := strconv.Atoi(env)
	if err != nil || rounds <= 0 {
		rounds = 300
	}
	body, content, sig, pub := benchNotification(t)
	v, err := newVerifier(alipaynotify.Options{AppID: "2021000000000001", AlipayPublicKeys: []string{pub}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := alipaynotify.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := []byte(content)
	const block = 100
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	notify := func() time.Duration {
		start := threadCPU()
		for range block {
			if _, err := v.VerifyNotify(ctx, body); err != nil {
				t.Fatal(err)
			}
		}
		return threadCPU() - start
	}
	floor := func() time.Duration {
		start := threadCPU()
		for range block {
			sum := sha256.Sum256(data)
			if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
				t.Fatal(err)
			}
		}
		return threadCPU() - start
	}
	notify()
	floor()
	var ratios []float64
	var ns, fs []time.Duration
	var nsum, fsum time.Duration
	for r := range rounds {
		var n, f time.Duration
		if r%2 == 0 {
			n, f = notify(), floor()
		} else {
			f, n = floor(), notify()
		}
		ratios = append(ratios, float64(n)/float64(f))
		ns, fs = append(ns, n), append(fs, f)
		nsum, fsum = nsum+n, fsum+f
	}
	slices.Sort(ratios)
	slices.Sort(ns)
	slices.Sort(fs)
	per := func(d time.Duration) float64 { return float64(d) / block }
	t.Logf("rounds=%d block=%d", rounds, block)
	t.Logf("ratio: median %.3f  p25 %.3f  p75 %.3f  min %.3f  sum-ratio %.3f  min-ratio %.3f",
		ratios[len(ratios)/2], ratios[len(ratios)/4], ratios[3*len(ratios)/4], ratios[0],
		float64(nsum)/float64(fsum), float64(ns[0])/float64(fs[0]))
	t.Logf("notify ns/op: median %.0f min %.0f; floor ns/op: median %.0f min %.0f",
		per(ns[len(ns)/2]), per(ns[0]), per(fs[len(fs)/2]), per(fs[0]))
}

// threadCPU is the CPU time of the calling thread: time the scheduler gave
// to other processes is not counted.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTimeID = 3
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		panic(e)
	}
	return time.Duration(ts.Nano())
}
