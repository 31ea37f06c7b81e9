package alipaytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
)

// NotifyVerifyRequest is one request received by a NotifyVerifyServer.
type NotifyVerifyRequest struct {
	// Method and Path as received ("GET", "/gateway.do").
	Method, Path string
	// RawQuery is the query as sent, to check that notify_id was escaped
	// exactly once.
	RawQuery string
	// Service, Partner and NotifyID are the decoded query parameters.
	Service, Partner, NotifyID string
}

// NotifyVerifyServer fakes the legacy notify_verify gateway:
//
//	GET /gateway.do?service=notify_verify&partner=<partner>&notify_id=<id>
//
// By default it answers "true" for a notify_id registered (by Register or by
// a Signer whose Gateway is this server) under the same partner, "false" for
// any other notify_id, and "invalid" when service is not notify_verify or
// partner or notify_id is missing, as Alipay does. SetAnswer and Hang
// override that for failure tests. It records every request. The path is
// not checked.
type NotifyVerifyServer struct {
	*httptest.Server

	mu       sync.Mutex
	ids      map[string]string // notify_id -> partner
	answer   string
	hang     bool
	requests []NotifyVerifyRequest
	done     chan struct{}
	stop     sync.Once
}

// NewNotifyVerifyServer starts a fake notify_verify gateway. Close it when
// done (t.Cleanup(srv.Close)).
func NewNotifyVerifyServer() *NotifyVerifyServer {
	g := &NotifyVerifyServer{ids: map[string]string{}, done: make(chan struct{})}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	return g
}

// GatewayURL is the URL to configure as the gateway:
// the server's URL + "/gateway.do".
func (g *NotifyVerifyServer) GatewayURL() string { return g.URL + "/gateway.do" }

// Register makes notifyID genuine for partner.
func (g *NotifyVerifyServer) Register(partner, notifyID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ids[notifyID] = partner
}

// Expire makes a registered notifyID answer "false" from now on, like a
// notify_id older than a minute or already verified.
func (g *NotifyVerifyServer) Expire(notifyID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.ids, notifyID)
}

// SetAnswer makes every request answered with body ("true", "false",
// "invalid", or any text such as an HTML error page), whatever the
// notify_id. SetAnswer("") restores the default behaviour.
func (g *NotifyVerifyServer) SetAnswer(body string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.answer = body
}

// Hang makes requests block until the client gives up (its context or
// timeout ends) or the server is closed, for timeout tests. Hang(false)
// stops it for new requests.
func (g *NotifyVerifyServer) Hang(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hang = on
}

// Requests returns a copy of the requests received so far.
func (g *NotifyVerifyServer) Requests() []NotifyVerifyRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]NotifyVerifyRequest(nil), g.requests...)
}

// Close releases hanging requests and shuts the server down.
func (g *NotifyVerifyServer) Close() {
	g.stop.Do(func() { close(g.done) })
	g.Server.Close()
}

func (g *NotifyVerifyServer) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := NotifyVerifyRequest{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Service:  q.Get("service"),
		Partner:  q.Get("partner"),
		NotifyID: q.Get("notify_id"),
	}
	g.mu.Lock()
	g.requests = append(g.requests, req)
	hang, answer := g.hang, g.answer
	partner, registered := g.ids[req.NotifyID]
	g.mu.Unlock()

	if hang {
		select {
		case <-r.Context().Done():
		case <-g.done:
		}
		return
	}
	if answer == "" {
		switch {
		case req.Service != "notify_verify" || req.Partner == "" || req.NotifyID == "":
			answer = "invalid"
		case registered && partner == req.Partner:
			answer = "true"
		default:
			answer = "false"
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, answer)
}
