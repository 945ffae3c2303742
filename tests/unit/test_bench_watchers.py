"""How `vendyz bench --watchers` turns stock pushes into push lag and missed watchers."""

from __future__ import annotations

from localcloud.bench.watchers import WatchResult, push_lags_ms, summarize, websocket_url


def test_lag_runs_from_each_confirmed_reply_to_the_first_push_showing_that_stock() -> None:
    # GIVEN stock 3, three confirmations at t=10, 11, 12 and pushes of 2 at 10.1 and 0 at 12.3
    confirmed_at = [11.0, 10.0, 12.0]  # in request order, not reply order
    pushes = [(10.1, 2), (12.3, 0)]
    # WHEN the lags are computed
    lags, unseen = push_lags_ms(confirmed_at, pushes, stock=3, quantity=1)
    # THEN the 1st sale (stock <= 2) shows 100 ms later, the 2nd and 3rd (<= 1, <= 0) at 12.3
    assert [round(lag) for lag in lags] == [100, 1300, 300]
    assert unseen == 0


def test_a_push_that_came_before_the_reply_counts_as_no_lag() -> None:
    lags, _ = push_lags_ms([5.0], [(4.9, 0)], stock=1, quantity=1)
    assert lags == [0.0]


def test_sales_a_watcher_never_showed_are_counted_as_unseen() -> None:
    # GIVEN two sales of 2 units each and a watcher whose only push shows stock 8
    lags, unseen = push_lags_ms([1.0, 2.0], [(1.5, 8)], stock=10, quantity=2)
    # THEN the first sale (<= 8) has a lag and the second (<= 6) was never shown
    assert [round(lag) for lag in lags] == [500]
    assert unseen == 1


def test_a_watcher_whose_last_push_is_not_the_final_stock_is_missed() -> None:
    # GIVEN three watchers: one ends on the final stock 0, one on 1, one saw nothing
    result = WatchResult(pushes=[[(1.0, 1), (2.0, 0)], [(1.0, 1)], []], errors=[])
    # WHEN summarised
    summary = summarize(result, [0.9, 1.9], watchers=3, stock=2, quantity=1, final_stock=0)
    # THEN two are missed, and the lags come from every sample a watcher showed
    assert summary["watchers_missed"] == 2
    assert summary["pushes_received"] == 3
    assert summary["push_samples_unseen"] == 1 + 2
    assert summary["push_lag_p50_ms"] is not None


def test_watchers_that_never_reported_are_all_missed() -> None:
    summary = summarize(
        WatchResult([], ["gone"]), [1.0], watchers=4, stock=1, quantity=1, final_stock=0
    )
    assert summary["watchers_missed"] == 4
    assert summary["push_lag_p99_ms"] is None


def test_the_websocket_url_is_the_local_clouds_ws_path_on_the_same_host() -> None:
    assert websocket_url("http://127.0.0.1:3000") == "ws://127.0.0.1:3000/ws"
    assert websocket_url("https://shop.example/") == "wss://shop.example/ws"
