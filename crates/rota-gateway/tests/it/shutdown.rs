//! Graceful shutdown: in-flight requests finish, then the listener is gone.

use std::time::Duration;

use rota_sim::Behavior;

use crate::common::*;

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_then_stops_accepting() {
    let Env {
        gw,
        sim,
        dir: _dir,
        client,
    } = start(|_, _| {}).await;
    sim.script("ka", Behavior::Slow(Duration::from_millis(300)));
    let base = gw.base_url();
    let in_flight = tokio::spawn({
        let (client, base) = (client.clone(), base.clone());
        async move {
            let body = chat_body("gpt-4o", "A slow question asked before shutdown", false);
            post_chat(&client, &base, &body).await
        }
    });
    // Wait until the upstream has the request, so it is in flight when shutdown starts.
    tokio::time::timeout(Duration::from_secs(10), async {
        while sim.requests().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the request reached the upstream");
    tokio::time::timeout(Duration::from_secs(10), gw.shutdown())
        .await
        .expect("shutdown finishes once the in-flight request is answered")
        .expect("clean shutdown");
    let res = in_flight.await.expect("request task");
    assert_eq!(res.status, 200, "the in-flight request was answered");
    assert!(
        tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .is_err(),
        "nothing listens after shutdown"
    );
}
