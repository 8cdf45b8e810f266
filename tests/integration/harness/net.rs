//! The network peers of the tests: plaintext backends standing in for
//! mongod (echo, or any handler), and blocking TLS clients that verify the
//! server and may present a certificate.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslStream, SslVerifyMode, SslVersion};

/// A backend listening on a loopback port; each connection runs the
/// handler on its own thread. The threads end with the test process.
pub struct Backend {
    pub port: u16,
}

impl Backend {
    pub fn start(handler: impl Fn(TcpStream) + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let port = listener.local_addr().expect("addr").port();
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let handler = handler.clone();
                std::thread::spawn(move || handler(stream));
            }
        });
        Backend { port }
    }

    /// Echoes every byte back; after the client's EOF, half-closes too.
    pub fn echo() -> Backend {
        Backend::start(|mut stream| {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = stream.shutdown(Shutdown::Write);
        })
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// A port on which nothing listens (bound, then closed).
pub fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// How the test client connects.
#[derive(Default, Clone)]
pub struct ClientOptions<'a> {
    /// CA that must have signed the server's certificate.
    pub ca: Option<&'a Path>,
    /// PEM with the client's key and certificate.
    pub identity: Option<&'a Path>,
    /// Extra chain certificates the client sends.
    pub chain: Option<&'a Path>,
    /// Limit the protocol to one version.
    pub version: Option<SslVersion>,
    /// TLS 1.2 cipher list or TLS 1.3 suites to offer.
    pub ciphers: Option<&'a str>,
    pub suites: Option<&'a str>,
    pub groups: Option<&'a str>,
}

pub type TlsStream = SslStream<TcpStream>;

/// Connects with TLS to 127.0.0.1:port; the error is OpenSSL's text.
pub fn tls_connect(port: u16, options: &ClientOptions) -> Result<TlsStream, String> {
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    match options.ca {
        Some(ca) => b.set_ca_file(ca).map_err(|e| e.to_string())?,
        None => b.set_verify(SslVerifyMode::NONE),
    }
    if let Some(identity) = options.identity {
        b.set_certificate_chain_file(identity)
            .map_err(|e| e.to_string())?;
        b.set_private_key_file(identity, SslFiletype::PEM)
            .map_err(|e| e.to_string())?;
    }
    if let Some(chain) = options.chain {
        let pem = std::fs::read(chain).map_err(|e| e.to_string())?;
        for cert in openssl::x509::X509::stack_from_pem(&pem).map_err(|e| e.to_string())? {
            b.add_extra_chain_cert(cert).map_err(|e| e.to_string())?;
        }
    }
    if let Some(v) = options.version {
        b.set_min_proto_version(Some(v))
            .map_err(|e| e.to_string())?;
        b.set_max_proto_version(Some(v))
            .map_err(|e| e.to_string())?;
    }
    if let Some(c) = options.ciphers {
        b.set_cipher_list(c).map_err(|e| e.to_string())?;
    }
    if let Some(s) = options.suites {
        b.set_ciphersuites(s).map_err(|e| e.to_string())?;
    }
    if let Some(g) = options.groups {
        b.set_groups_list(g).map_err(|e| e.to_string())?;
    }
    let connector = b.build();
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let config = connector.configure().map_err(|e| e.to_string())?;
    config.connect("localhost", tcp).map_err(|e| e.to_string())
}

/// Writes a message and reads the same number of bytes back.
pub fn round_trip(stream: &mut impl ReadWrite, message: &[u8]) -> Result<Vec<u8>, String> {
    stream.write_all(message).map_err(|e| e.to_string())?;
    stream.flush().map_err(|e| e.to_string())?;
    let mut back = vec![0u8; message.len()];
    stream.read_exact(&mut back).map_err(|e| e.to_string())?;
    Ok(back)
}

/// Anything a test reads from and writes to.
pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Whether the server let a TLS client through to the echo backend: the
/// handshake passed and a message came back.
pub fn is_let_in(port: u16, options: &ClientOptions) -> Result<(), String> {
    let mut stream = tls_connect(port, options)?;
    let back = round_trip(&mut stream, b"are you mongod?")?;
    if back != b"are you mongod?" {
        return Err(format!("echo came back altered: {back:?}"));
    }
    Ok(())
}

/// A deterministic pseudo-random byte source (xorshift), cheap enough for
/// gigabytes of test data.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() as usize) % (hi - lo + 1)
    }
}
