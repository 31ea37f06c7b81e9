package alipaytest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

func notifyVerify(ctx context.Context, gatewayURL, service, partner, notifyID string) (string, error) {
	q := url.Values{}
	for k, v := range map[string]string{"service": service, "partner": partner, "notify_id": notifyID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gatewayURL+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestNotifyVerifyServer(t *testing.T) {
	g := alipaytest.NewNotifyVerifyServer()
	t.Cleanup(g.Close)
	s := alipaytest.NewLegacySigner("2088000000000009", "")
	s.Gateway = g
	m := s.Notify(nil)
	id := m.Get("notify_id")
	ctx := context.Background()

	tests := []struct {
		name, service, partner, notifyID, want string
	}{
		{"registered", "notify_verify", "2088000000000009", id, "true"},
		{"unknown id", "notify_verify", "2088000000000009", "nope", "false"},
		{"other partner", "notify_verify", "2088000000000001", id, "false"},
		{"wrong service", "other", "2088000000000009", id, "invalid"},
		{"no partner", "notify_verify", "", id, "invalid"},
		{"no notify_id", "notify_verify", "2088000000000009", "", "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := notifyVerify(ctx, g.GatewayURL(), tt.service, tt.partner, tt.notifyID)
			if err != nil || got != tt.want {
				t.Errorf("answer %q, %v; want %q", got, err, tt.want)
			}
		})
	}

	reqs := g.Requests()
	if len(reqs) != len(tests) {
		t.Fatalf("recorded %d requests", len(reqs))
	}
	if r := reqs[0]; r.Method != http.MethodGet || r.Path != "/gateway.do" || r.Service != "notify_verify" || r.Partner != "2088000000000009" || r.NotifyID != id {
		t.Errorf("recorded %+v", r)
	}

	// A legacy return's notify_id contains '%': escaped exactly once on
	// the wire, it decodes back to itself.
	ret := s.Return(nil)
	if got, _ := notifyVerify(ctx, g.GatewayURL(), "notify_verify", "2088000000000009", ret.Get("notify_id")); got != "true" {
		t.Errorf("return notify_id: %q", got)
	}

	g.Expire(id)
	if got, _ := notifyVerify(ctx, g.GatewayURL(), "notify_verify", "2088000000000009", id); got != "false" {
		t.Errorf("expired: %q", got)
	}
	g.SetAnswer("<html>error</html>")
	if got, _ := notifyVerify(ctx, g.GatewayURL(), "notify_verify", "x", "y"); got != "<html>error</html>" {
		t.Errorf("SetAnswer: %q", got)
	}
	g.SetAnswer("")
	g.Register("p", "manual")
	if got, _ := notifyVerify(ctx, g.GatewayURL(), "notify_verify", "p", "manual"); got != "true" {
		t.Errorf("Register: %q", got)
	}
}

func TestNotifyVerifyServerHang(t *testing.T) {
	g := alipaytest.NewNotifyVerifyServer()
	t.Cleanup(g.Close)
	g.Hang(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := notifyVerify(ctx, g.GatewayURL(), "notify_verify", "p", "id")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("hang did not end with the client's deadline")
	}

	// Close releases a request still hanging.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = notifyVerify(context.Background(), g.GatewayURL(), "notify_verify", "p", "id")
	}()
	// Poll Requests: it is the server's only sign that the request reached
	// the hanging handler.
	for deadline := time.Now().Add(5 * time.Second); len(g.Requests()) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("second request never arrived")
		}
	}
	g.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a hanging request")
	}
}
