package examples_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/internal/simulator"
)

// TestSimulatorAgainstExamples drives the simulator (Alipay's retry schedule,
// duplicates, racing returns, out-of-order statuses, hostile inputs) at each
// example server from outside, then checks the servers' stdout: every
// distinct event handled exactly once.
func TestSimulatorAgainstExamples(t *testing.T) {
	pemFile := filepath.Join(t.TempDir(), "alipay_public_key.pem")
	if err := os.WriteFile(pemFile, []byte(alipaytest.TestKey().PublicKeyPEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			gw := alipaytest.NewNotifyVerifyServer()
			t.Cleanup(gw.Close)
			s := start(t, binary(t, name), []string{
				"ALIPAY_APP_ID=" + alipaytest.DefaultAppID, "ALIPAY_PUBLIC_KEY_FILE=" + pemFile,
				"ALIPAY_PARTNER=" + alipaytest.DefaultPID, "ALIPAY_MD5_KEY=" + alipaytest.DefaultMD5Key,
				"ALIPAY_NOTIFY_VERIFY_URL=" + gw.GatewayURL(),
			})
			sim, err := simulator.New(simulator.Config{
				NotifyURL: s.url + "/alipay/notify", ReturnURL: s.url + "/alipay/return",
				Key: alipaytest.TestKey(), MD5Key: alipaytest.DefaultMD5Key, Gateway: gw,
				Speed: 3600, Seed: 7,
			})
			if err != nil {
				t.Fatal(err)
			}
			sc := &simulator.Scenario{
				Name: "examples",
				Trades: []simulator.Trade{
					{Story: "paid", Duplicates: 3, RaceReturn: true},
					{Story: "partial_refund", Refunds: []string{"1.00", "2.00"}, Duplicates: 2},
					{Story: "finished", OutOfOrder: true, Duplicates: 1},
					{Story: "full_refund", Refunds: []string{"8.88"}, Charset: "gbk", Subject: "中文"},
					{Story: "paid", SignType: "MD5", Duplicates: 2},
					// The legacy flows, with the same legacy configuration.
					{Story: "escrow_refunded", Duplicates: 1, RaceReturn: true, OutOfOrder: true},
					{Story: "dual_instant", Duplicates: 1},
					{Story: "paid", SignType: "WAP_MD5", Duplicates: 2, RaceReturn: true},
				},
				Hostile: []simulator.Hostile{{Kind: "forged_signature"}, {Kind: "tampered_amount"}, {Kind: "garbage_body"}, {Kind: "wrong_method"}},
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rep, err := sim.Run(ctx, sc)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				rep.WriteTable(os.Stderr, true)
				t.Fatalf("simulator run failed: %+v", rep.Totals)
			}
			// Every line the server printed is a distinct event.
			seen := map[string]int{}
			deadline := time.After(2 * time.Second)
		drain:
			for {
				select {
				case line := <-s.lines:
					var ev map[string]any
					if err := json.Unmarshal([]byte(line), &ev); err != nil {
						t.Fatalf("not a JSON line: %q", line)
					}
					key := ev["out_trade_no"].(string) + "|" + ev["trade_status"].(string) + "|" + ev["refund_status"].(string) + "|" +
						ev["out_biz_no"].(string) + "|" + ev["refund_fee"].(string)
					seen[key]++
				case <-deadline:
					break drain
				}
			}
			// Each genuine notification event is one line: none lost, none twice.
			if len(seen) != rep.Totals.Notifications || rep.Totals.Deliveries <= rep.Totals.Notifications {
				t.Fatalf("%d distinct events handled, %d notification events sent in %d deliveries",
					len(seen), rep.Totals.Notifications, rep.Totals.Deliveries)
			}
			for k, n := range seen {
				if n != 1 {
					t.Errorf("event %s handled %d times", k, n)
				}
			}
			s.stop(t)
		})
	}
}
