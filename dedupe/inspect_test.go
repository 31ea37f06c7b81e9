package dedupe_test

import (
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
)

func TestRecordedSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		source string
		code   uint8
		shown  string
	}{
		{"", 0, ""},
		{string(alipaynotify.SourceNotify), 1, dedupe.SourceNotify},
		{string(alipaynotify.SourceReturn), 2, dedupe.SourceReturn},
		{dedupe.SourceReplay, 3, dedupe.SourceReplay},
		{dedupe.SourceQuery, 4, dedupe.SourceQuery},
		{"cron", 7, dedupe.SourceOther},
		{dedupe.SourceOther, 7, dedupe.SourceOther},
		{"NOTIFY", 7, dedupe.SourceOther},
	} {
		if got := dedupe.SourceCode(tc.source); got != tc.code {
			t.Errorf("SourceCode(%q) = %d, want %d", tc.source, got, tc.code)
		}
		if got := dedupe.RecordedSource(tc.source); got != tc.shown {
			t.Errorf("RecordedSource(%q) = %q, want %q", tc.source, got, tc.shown)
		}
	}
	for _, code := range []uint8{5, 6, 8, 255} {
		if got := dedupe.SourceOf(code); got != "" {
			t.Errorf("SourceOf(%d) = %q, want \"\"", code, got)
		}
	}
}

// TestTradeOf: the Trade an operator looks up is the one EventFor keys a
// notification's events on.
func TestTradeOf(t *testing.T) {
	t.Parallel()
	n := &alipaynotify.Notification{Protocol: alipaynotify.ProtocolOpenPlatform, AppID: "2021000000000001", OutTradeNo: "ORDER-123",
		TradeNo: "2024120422001400000000000001", TradeStatus: alipaynotify.TradeSuccess}
	if got, want := dedupe.TradeOf("2021000000000001", "ORDER-123"), dedupe.EventFor(n).Trade; got != want {
		t.Fatalf("TradeOf = %q, EventFor's Trade %q", got, want)
	}
}

func TestRecordStateString(t *testing.T) {
	t.Parallel()
	for state, want := range map[dedupe.RecordState]string{dedupe.RecordDone: "done", dedupe.RecordInFlight: "in flight", 0: "invalid"} {
		if got := state.String(); got != want {
			t.Errorf("RecordState(%d).String() = %q, want %q", int(state), got, want)
		}
	}
}
