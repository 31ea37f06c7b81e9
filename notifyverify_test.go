package alipaynotify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
)

// notifyVerifyID is the notify_id of the synthetic-legacy-md5-notify-utf8
// vector, the notification these tests send through notify_verify.
const notifyVerifyID = "0123456789abcdef0123456789abcdef01"

// remoteCheckVerifier returns a verifier for the legacy MD5 vector whose
// notify_verify gateway is url, made with client (nil: the default one).
func remoteCheckVerifier(t *testing.T, url string, client *http.Client, timeout time.Duration) (*alipaynotify.Verifier, []byte) {
	t.Helper()
	vec := loadVector(t, "synthetic-legacy-md5-notify-utf8")
	v, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, MD5Key: vec.md5Key(), NotifyVerify: true, NotifyVerifyURL: url, NotifyVerifyTimeout: timeout, HTTPClient: client}})
	if err != nil {
		t.Fatal(err)
	}
	return v, []byte(vec.body())
}

// assertRemoteCheckFailed checks err is the typed remote-check failure and
// does not quote the notify_id.
func assertRemoteCheckFailed(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, alipaynotify.ErrRemoteCheck) {
		t.Fatalf("err = %v, want ErrRemoteCheck", err)
	}
	var fe *alipaynotify.FieldError
	if !errors.As(err, &fe) || fe.Field != "notify_id" {
		t.Errorf("err = %#v, want a FieldError on notify_id", err)
	}
	if strings.Contains(err.Error(), notifyVerifyID) || strings.Contains(err.Error(), "0123456789abcdef") {
		t.Errorf("error quotes the notify_id: %v", err)
	}
}

// Only a 200 answer of exactly "true", ASCII whitespace aside, passes.
func TestNotifyVerifyAnswer(t *testing.T) {
	t.Parallel()
	type answer struct {
		status int
		body   string
	}
	var cur atomic.Pointer[answer]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("service") != "notify_verify" || q.Get("partner") != testPartner || q.Get("notify_id") != notifyVerifyID {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		a := cur.Load()
		if a.status >= 300 && a.status < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(a.status)
		w.Write([]byte(a.body))
	}))
	defer srv.Close()
	v, body := remoteCheckVerifier(t, srv.URL, nil, 0)
	for _, c := range []struct {
		name   string
		status int
		body   string
		ok     bool
	}{
		{"true", 200, "true", true},
		{"space true newline", 200, " true\n", true},
		{"tab true crlf", 200, "\ttrue\r\n", true},
		{"truex", 200, "truex", false},
		{"true then 100 spaces then x", 200, "true" + strings.Repeat(" ", 100) + "x", false},
		{"true then spaces beyond the limit", 200, "true" + strings.Repeat(" ", 100), false},
		{"true newline x", 200, "true\nx", false},
		{"true NUL", 200, "true\x00", false},
		{"non-ASCII space", 200, "\u00a0true", false},
		{"TRUE", 200, "TRUE", false},
		{"not true", 200, "not true", false},
		{"false", 200, "false", false},
		{"invalid", 200, "invalid", false},
		{"empty", 200, "", false},
		{"500 true", 500, "true", false},
		{"404 true", 404, "true", false},
		{"204", 204, "", false},
		{"302 true", 302, "true", false},
		{"304", 304, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cur.Store(&answer{c.status, c.body})
			_, err := v.VerifyNotify(context.Background(), body)
			if c.ok {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			assertRemoteCheckFailed(t, err)
		})
	}
}

// A redirect is never followed, to another host or the same one, with the
// default client or the merchant's own, and the merchant's client is left
// as it was.
func TestNotifyVerifyNoRedirect(t *testing.T) {
	t.Parallel()
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		w.Write([]byte("true"))
	}))
	defer other.Close()
	var gatewayHits atomic.Int32
	var target atomic.Pointer[string]
	var code atomic.Int32
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same-host" {
			t.Errorf("the redirect within the gateway host was followed")
			w.Write([]byte("true"))
			return
		}
		gatewayHits.Add(1)
		http.Redirect(w, r, *target.Load()+"?"+r.URL.RawQuery, int(code.Load()))
	}))
	defer gateway.Close()

	var transportCalls atomic.Int32
	custom := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		transportCalls.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	follow := func(*http.Request, []*http.Request) error { return nil }
	customFollowing := &http.Client{CheckRedirect: follow}

	for _, cl := range []struct {
		name   string
		client *http.Client
	}{{"default client", nil}, {"custom client", custom}, {"custom client following redirects", customFollowing}} {
		v, body := remoteCheckVerifier(t, gateway.URL, cl.client, 0)
		for _, to := range []struct{ name, url string }{{"other host", other.URL + "/gateway.do"}, {"same host", "/same-host"}} {
			for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
				t.Run(fmt.Sprintf("%s/%s/%d", cl.name, to.name, status), func(t *testing.T) {
					target.Store(&to.url)
					code.Store(int32(status))
					before := gatewayHits.Load()
					_, err := v.VerifyNotify(context.Background(), body)
					assertRemoteCheckFailed(t, err)
					if gatewayHits.Load() != before+1 {
						t.Errorf("gateway got %d requests, want 1", gatewayHits.Load()-before)
					}
				})
			}
		}
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
	if transportCalls.Load() == 0 {
		t.Error("the merchant's HTTPClient (its Transport) was not used")
	}
	if custom.CheckRedirect != nil {
		t.Error("NewVerifier modified the merchant's HTTPClient")
	}
	if customFollowing.CheckRedirect == nil || fmt.Sprintf("%p", customFollowing.CheckRedirect) != fmt.Sprintf("%p", follow) {
		t.Error("NewVerifier replaced the merchant's CheckRedirect")
	}
}

// A gateway that never answers fails the check when the caller's context
// ends or NotifyVerifyTimeout passes; the handler returns as soon as the
// client gives up.
func TestNotifyVerifySlowGateway(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	var onArrival atomic.Pointer[func()]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := onArrival.Load(); f != nil {
			(*f)()
		}
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-r.Context().Done() // hang until the client gives up
	}))
	defer srv.Close()

	t.Run("caller context cancelled", func(t *testing.T) {
		v, body := remoteCheckVerifier(t, srv.URL, nil, 0)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := func() { cancel() }
		onArrival.Store(&f)
		defer onArrival.Store(nil)
		_, err := v.VerifyNotify(ctx, body)
		assertRemoteCheckFailed(t, err)
	})
	t.Run("caller context deadline", func(t *testing.T) {
		v, body := remoteCheckVerifier(t, srv.URL, nil, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := v.VerifyNotify(ctx, body)
		assertRemoteCheckFailed(t, err)
	})
	t.Run("NotifyVerifyTimeout", func(t *testing.T) {
		v, body := remoteCheckVerifier(t, srv.URL, nil, 20*time.Millisecond)
		_, err := v.VerifyNotify(context.Background(), body)
		assertRemoteCheckFailed(t, err)
	})
	t.Run("NotifyVerifyTimeout with a custom client", func(t *testing.T) {
		v, body := remoteCheckVerifier(t, srv.URL, &http.Client{}, 20*time.Millisecond)
		_, err := v.VerifyNotify(context.Background(), body)
		assertRemoteCheckFailed(t, err)
	})
}

// A transport error that quotes the request URL does not carry the notify_id
// into the error.
func TestNotifyVerifyErrorOmitsNotifyID(t *testing.T) {
	t.Parallel()
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("cannot reach %s (notify_id %s)", r.URL, r.URL.Query().Get("notify_id"))
	})}
	v, body := remoteCheckVerifier(t, "https://gateway.invalid/gateway.do", client, 0)
	_, err := v.VerifyNotify(context.Background(), body)
	assertRemoteCheckFailed(t, err)
	if !strings.Contains(err.Error(), "[notify_id]") {
		t.Errorf("err = %v, want the cause with the notify_id redacted", err)
	}
}
