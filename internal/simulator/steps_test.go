package simulator

import "testing"

func TestStepKindString(t *testing.T) {
	seen := map[string]bool{}
	for k := stepPaid; k <= stepReturn; k++ {
		s := k.String()
		if s == "" || seen[s] {
			t.Errorf("stepKind %d: name %q empty or repeated", k, s)
		}
		seen[s] = true
	}
	if got := stepKind(0).String(); got != "stepKind(0)" {
		t.Errorf("zero stepKind = %q", got)
	}
	if got := (stepReturn + 1).String(); got != "stepKind(12)" {
		t.Errorf("unknown stepKind = %q", got)
	}
	// The names reports have always used.
	for k, want := range map[stepKind]string{stepPaid: "paid", stepFullRefund: "full_refund", stepWaitBuyerPay: "wait_buyer_pay", stepInstantFinished: "instant_finished", stepReturn: "return"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", k, got, want)
		}
	}
}
