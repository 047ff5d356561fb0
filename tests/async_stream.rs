//! The async stream API (feature `async`) over real loopback UDP, driven by tokio through
//! tokio-util's compat adapters: our types implement futures-io, and nothing in them depends on
//! tokio.
#![allow(clippy::disallowed_methods)] // Tests of the runtime measure wall-clock time.

mod common;
use common::{localhost, pattern};
use std::io::ErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep, timeout};
use tokio_util::compat::FuturesAsyncReadCompatExt;
use utp::stream_async::{AsyncUtpSocket, AsyncUtpStream};

/// Bound on any one test step that should finish promptly: a hang fails instead of blocking.
const STEP: Duration = Duration::from_secs(60);

/// Waits until `count` is not zero.
async fn until_nonzero(count: &AtomicU64) {
    let started = Instant::now();
    while count.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < STEP, "waited too long");
        sleep(Duration::from_millis(10)).await;
    }
}

async fn pair() -> (
    AsyncUtpSocket,
    AsyncUtpSocket,
    AsyncUtpStream,
    AsyncUtpStream,
) {
    let server = AsyncUtpSocket::bind(localhost()).unwrap();
    let client = AsyncUtpSocket::bind(localhost()).unwrap();
    let both = async {
        tokio::join!(
            client.connect(server.local_addr().unwrap()),
            server.accept()
        )
    };
    let (a, b) = timeout(STEP, both).await.expect("connected");
    let (a, (b, peer)) = (a.unwrap(), b.unwrap());
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(a.peer_addr().unwrap(), server.local_addr().unwrap());
    (server, client, a, b)
}

/// Writes `data` then our FIN while reading everything the peer sends until its FIN, both at
/// once on one stream.
async fn exchange(stream: &AsyncUtpStream, data: &[u8]) -> Vec<u8> {
    let (mut r, mut w) = (stream.compat(), stream.compat());
    let write = async {
        w.write_all(data).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let read = async {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        got
    };
    tokio::join!(write, read).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_transfers_both_ways_byte_exact() {
    const STREAMS: u8 = 16;
    const LEN: usize = 4 << 20;
    let server = Arc::new(AsyncUtpSocket::bind(localhost()).unwrap());
    let client = AsyncUtpSocket::bind(localhost()).unwrap();
    let addr = server.local_addr().unwrap();
    // Each client stream announces its index in its first byte; the server answers with that
    // index's data and checks it received the client's.
    let server_side = tokio::spawn({
        let server = server.clone();
        async move {
            let mut tasks = Vec::new();
            for _ in 0..STREAMS {
                let (s, _) = server.accept().await.unwrap();
                tasks.push(tokio::spawn(async move {
                    let mut index = [0u8];
                    (&s).compat().read_exact(&mut index).await.unwrap();
                    let i = u64::from(index[0]);
                    let got = exchange(&s, &pattern(200 + i, LEN)).await;
                    assert!(
                        got == pattern(100 + i, LEN),
                        "server: stream {i} received {} bytes, not the client's data",
                        got.len()
                    );
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    });
    let mut clients = Vec::new();
    for i in 0..STREAMS {
        let s = timeout(STEP, client.connect(addr))
            .await
            .expect("connected")
            .unwrap();
        clients.push(tokio::spawn(async move {
            let mut data = vec![i];
            data.extend(pattern(100 + u64::from(i), LEN));
            let got = exchange(&s, &data).await;
            assert!(
                got == pattern(200 + u64::from(i), LEN),
                "client: stream {i} received {} bytes, not the server's data",
                got.len()
            );
        }));
    }
    timeout(Duration::from_secs(300), async {
        for c in clients {
            c.await.unwrap();
        }
        server_side.await.unwrap();
    })
    .await
    .expect("transfers finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_cancelled_mid_transfer_lose_no_bytes() {
    let (_server, _client, a, b) = pair().await;
    let data = pattern(3, 8 << 20);
    let cancelled = Arc::new(AtomicU64::new(0));
    // The writer stops half-way until a read has been cancelled mid-transfer, and pauses now
    // and then, so reads are certain to wait and be cancelled.
    let writer = tokio::spawn({
        let (data, cancelled) = (data.clone(), cancelled.clone());
        async move {
            let mut w = a.compat();
            for (i, chunk) in data.chunks(256 << 10).enumerate() {
                if i == 16 {
                    until_nonzero(&cancelled).await;
                }
                w.write_all(chunk).await.unwrap();
                if i % 4 == 0 {
                    sleep(Duration::from_millis(20)).await;
                }
            }
            w.shutdown().await.unwrap();
            w
        }
    });
    let mut r = (&b).compat();
    let mut got = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; 16 << 10];
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < STEP, "transfer stalled");
        match timeout(Duration::from_millis(1), r.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("read failed: {e}"),
            // Counted once the transfer is under way (a read waiting for the first bytes
            // is not mid-transfer).
            Err(_) if !got.is_empty() => {
                cancelled.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => {}
        }
    }
    let _a = timeout(STEP, writer).await.expect("writer done").unwrap();
    let cancelled = cancelled.load(Ordering::SeqCst);
    assert!(
        got == data,
        "received {} bytes of {}, or different ones ({cancelled} reads cancelled)",
        got.len(),
        data.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_cancelled_while_blocked_lose_and_repeat_no_bytes() {
    let (_server, _client, a, b) = pair().await;
    let data = pattern(4, 8 << 20);
    let cancelled = Arc::new(AtomicU64::new(0));
    // The reader stops once it has 1 MiB until a write has been cancelled: the writer's send
    // buffer fills, so its writes are certain to be pending, and cancelled.
    let reader = tokio::spawn({
        let cancelled = cancelled.clone();
        async move {
            let mut r = b.compat();
            let mut got = vec![0u8; 1 << 20];
            r.read_exact(&mut got).await.unwrap();
            until_nonzero(&cancelled).await;
            r.read_to_end(&mut got).await.unwrap();
            got
        }
    });
    let mut w = (&a).compat();
    let mut sent = 0;
    let started = Instant::now();
    while sent < data.len() {
        assert!(started.elapsed() < STEP, "transfer stalled");
        let end = data.len().min(sent + (64 << 10));
        match timeout(Duration::from_millis(1), w.write(&data[sent..end])).await {
            Ok(Ok(n)) => sent += n,
            Ok(Err(e)) => panic!("write failed: {e}"),
            Err(_) => {
                cancelled.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    w.shutdown().await.unwrap();
    let got = timeout(STEP, reader).await.expect("reader done").unwrap();
    let cancelled = cancelled.load(Ordering::SeqCst);
    assert!(
        got == data,
        "received {} bytes of {}, or different ones ({cancelled} writes cancelled)",
        got.len(),
        data.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_waits_while_the_peer_does_not_read_and_resumes_when_it_does() {
    let (_server, _client, a, b) = pair().await;
    let data = pattern(5, 32 << 20);
    let chunk = 256 << 10;
    let mut w = (&a).compat();
    // B reads nothing: A's writes complete until the send buffer and B's window are full, then
    // one stays pending. A pending write returns only once room opens, and nothing opens it.
    let mut sent = 0;
    loop {
        assert!(
            sent < data.len(),
            "all of {sent} bytes written without backpressure"
        );
        let end = data.len().min(sent + chunk);
        match timeout(Duration::from_secs(1), w.write(&data[sent..end])).await {
            Ok(Ok(n)) => sent += n,
            Ok(Err(e)) => panic!("write failed: {e}"),
            Err(_) => break,
        }
    }
    assert!(sent >= 1 << 20, "blocked after only {sent} bytes");
    // B starts reading: the write that was pending completes, and so does the rest.
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        b.compat().read_to_end(&mut got).await.unwrap();
        got
    });
    let resumed = timeout(STEP, w.write(&data[sent..])).await;
    let n = resumed.expect("the write resumed").unwrap();
    assert!(n > 0);
    sent += n;
    timeout(STEP, w.write_all(&data[sent..]))
        .await
        .expect("the rest was written")
        .unwrap();
    w.shutdown().await.unwrap();
    let got = timeout(STEP, reader).await.unwrap().unwrap();
    assert!(
        got == data,
        "received {} bytes of {}",
        got.len(),
        data.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_a_port_without_listener_is_refused() {
    let client = AsyncUtpSocket::bind(localhost()).unwrap();
    // A port with nothing listening: take one and release it.
    let port = std::net::UdpSocket::bind(localhost())
        .unwrap()
        .local_addr()
        .unwrap();
    let started = Instant::now();
    let err = timeout(STEP, client.connect(port))
        .await
        .expect("connect finished")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
    // The ICMP port unreachable reaches the engine at once: no 31 s SYN budget.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_accept_wakes_when_a_connection_arrives() {
    let server = Arc::new(AsyncUtpSocket::bind(localhost()).unwrap());
    let client = AsyncUtpSocket::bind(localhost()).unwrap();
    let acceptor = tokio::spawn({
        let server = server.clone();
        async move { server.accept().await }
    });
    sleep(Duration::from_millis(200)).await;
    assert!(
        !acceptor.is_finished(),
        "accept completed with nobody connecting"
    );
    let a = timeout(STEP, client.connect(server.local_addr().unwrap()))
        .await
        .expect("connect finished")
        .unwrap();
    let (b, peer) = timeout(STEP, acceptor)
        .await
        .expect("accept woke")
        .unwrap()
        .unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(b.peer_addr().unwrap(), client.local_addr().unwrap());
    // The pair works.
    (&a).compat().write_all(b"ping").await.unwrap();
    let mut got = [0u8; 4];
    let mut r = (&b).compat();
    timeout(STEP, r.read_exact(&mut got))
        .await
        .expect("read done")
        .unwrap();
    assert_eq!(&got, b"ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_socket_wakes_pending_reads() {
    let (server, _client, a, b) = pair().await;
    let b = Arc::new(b);
    let server_read = tokio::spawn({
        let b = b.clone();
        async move { (&*b).compat().read(&mut [0u8; 16]).await }
    });
    let client_read = tokio::spawn(async move { (&a).compat().read(&mut [0u8; 16]).await });
    sleep(Duration::from_millis(100)).await;
    assert!(!server_read.is_finished() && !client_read.is_finished());
    // Dropping the socket joins its driver thread: do it off the runtime's workers.
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .unwrap();
    // The server's own stream fails; the client sees the server's FIN.
    let err = timeout(STEP, server_read)
        .await
        .expect("the server's read woke")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotConnected);
    let eof = timeout(STEP, client_read)
        .await
        .expect("the client's read woke")
        .unwrap();
    assert_eq!(eof.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_completes_only_once_a_slow_reader_has_everything() {
    use utp::stream::SHUTDOWN_GRACE;
    // The reader holds at most 64 KiB and starts reading after longer than a dropped socket's
    // grace: data still in flight then would be lost by a writer that exits.
    let small = common::fixed_receive_buffer(64 * 1024);
    let server = AsyncUtpSocket::bind_with(localhost(), small).unwrap();
    let addr = server.local_addr().unwrap();
    let pause = SHUTDOWN_GRACE + Duration::from_secs(1);
    let reader = tokio::spawn(async move {
        let (stream, _) = server.accept().await.unwrap();
        sleep(pause).await;
        let started = Instant::now();
        let mut got = Vec::new();
        stream.compat().read_to_end(&mut got).await.unwrap();
        (got, started)
    });
    let data = pattern(21, 512 * 1024);
    let client = AsyncUtpSocket::bind(localhost()).unwrap();
    let stream = client.connect(addr).await.unwrap();
    let mut w = stream.compat();
    timeout(STEP, async {
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
    })
    .await
    .expect("close completed");
    let closed = Instant::now();
    drop((w, client));
    let (got, reading_started) = timeout(STEP, reader).await.unwrap().unwrap();
    assert!(
        got == data,
        "{} of {} bytes, or corrupted",
        got.len(),
        data.len()
    );
    assert!(
        closed >= reading_started,
        "close completed before the reader had started reading"
    );
}
