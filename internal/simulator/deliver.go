package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DeliveryHeader is sent with every request: its value is Answer.DeliveryID
// ("e<event>.t<try>.c<copy>"), so that a merchant's logs, or a test's
// recording handler, can be matched with the report. Alipay sends no such
// header; merchants must not depend on it.
const DeliveryHeader = "Alipaysim-Delivery"

// newClient returns the default delivery client: connections kept for every
// worker, Alipay's timeout, no redirects followed.
func newClient(workers int, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is not "success"
		},
	}
}

// deliver sends one job and schedules what follows from the answer.
func (r *run) deliver(ctx context.Context, j *job) {
	if j.action != nil {
		j.action()
		return
	}
	ev := j.ev
	if ev.checkout != nil {
		r.orders.add(ev.checkout) // the order exists before its callbacks
	}
	a := Answer{
		DeliveryID: fmt.Sprintf("e%d.t%d.c%d", ev.info.Index, j.attempt, j.copy),
		Attempt:    j.attempt,
		Copy:       j.copy,
		NotifyID:   ev.info.NotifyID,
		Scheduled:  j.due,
		Sent:       r.clock.now(),
	}
	a.Late = a.Sent-a.Scheduled > r.sim.lateAfter
	a.WorkersBusy = a.Late && j.workersBusy
	if j.copy > 0 {
		a.NotifyID = ev.copies[j.copy-1].Get("notify_id")
	}
	req, err := r.request(ctx, ev, j.copy)
	if err != nil {
		a.Err = err.Error()
	} else {
		req.Header.Set(DeliveryHeader, a.DeliveryID)
		req.Header.Set("User-Agent", "alipaysim")
		a.Method = req.Method
		start := time.Now()
		resp, err := r.sim.client.Do(req)
		if err != nil {
			a.Latency = time.Since(start)
			a.Err = transportError(err)
		} else {
			// Read a little more than "success" so that "success\n" or a page
			// starting with it does not pass; drain a bounded rest so the
			// connection can be reused.
			head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			a.Latency = time.Since(start)
			a.Status = resp.StatusCode
			a.Body = sanitize(head, 40)
			a.Success = string(head) == "success"
		}
	}
	if ctx.Err() != nil && a.Err != "" {
		// The run was stopped: this delivery does not count.
		return
	}
	r.deliveries.Add(1)

	ev.mu.Lock()
	res := &ev.res
	if j.copy == 0 {
		res.Attempts++
	}
	var next *job
	finished := false
	switch {
	case ev.info.Kind == KindHostile:
		res.Refused = !a.Success
		res.OK, finished = res.Refused, true
	case ev.info.Kind == KindReturn:
		res.OK = a.Err == "" && a.Status >= 200 && a.Status < 400
		finished = true
	case j.copy > 0:
		// Duplicates do not drive the chain.
	case a.Success && ev.lostAcks > 0:
		// Alipay never sees this "success": it retries, if it still may.
		ev.lostAcks--
		a.Lost = true
		next = r.retry(ev, j)
		finished = next == nil
	case a.Success:
		res.Acknowledged, res.AckAttempt, res.AckAt = true, j.attempt, j.due
		res.OK, finished = true, true
	default:
		next = r.retry(ev, j)
		finished = next == nil
	}
	res.Answers = append(res.Answers, a)
	if finished {
		res.Done = true
	}
	acked := res.Acknowledged
	ev.mu.Unlock()

	if finished {
		r.done.Add(1)
		switch {
		case ev.info.Kind == KindHostile && !a.Success:
			r.refused.Add(1)
		case ev.info.Kind == KindNotify && acked:
			r.acked.Add(1)
		case ev.info.Kind == KindNotify:
			r.gaveUp.Add(1)
		}
	}
	if next != nil {
		r.q.push(next)
	}
	if f := r.sim.cfg.OnDelivery; f != nil {
		f(ev.info, a)
	}
}

// retry returns the next try of a notification chain, or nil when the
// schedule is exhausted.
func (r *run) retry(ev *event, j *job) *job {
	if j.attempt >= len(r.sim.offsets) {
		return nil
	}
	return &job{ev: ev, attempt: j.attempt + 1, due: ev.info.Start + r.sim.offsets[j.attempt]}
}

func (r *run) request(ctx context.Context, ev *event, c int) (*http.Request, error) {
	switch {
	case ev.raw != nil:
		return ev.raw(ctx, r.sim.cfg.NotifyURL)
	case ev.info.Kind == KindReturn:
		return ev.msg.ClientRequest(ctx, r.sim.cfg.ReturnURL)
	case c > 0:
		return ev.copies[c-1].ClientRequest(ctx, r.sim.cfg.NotifyURL)
	}
	return ev.msg.ClientRequest(ctx, r.sim.cfg.NotifyURL)
}

// transportError describes a failed request without echoing its URL, which
// for a return holds the whole signed query.
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
		return "timeout"
	}
	return sanitize([]byte(err.Error()), 80)
}
