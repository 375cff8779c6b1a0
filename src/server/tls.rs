//! The server's certificate: the operator's PEM files, or one made here and kept.
//!
//! Browsers give a page the camera only in a secure context, so a phone on the LAN needs
//! `https:`. A self-signed certificate is made once (rcgen), kept under the data directory and
//! reused, so that each phone accepts it once; it is made again only when the machine has an
//! IPv4 address it does not name (the new one names the old addresses too, so that moving between
//! networks does not make every phone accept a new one each time) or when it nears its end.

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    fs, io,
    net::IpAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    ServerConfig,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a self-signed certificate is valid. Apple's platforms refuse server certificates
/// valid for more than 825 days, and 397 days is what public CAs may issue.
const SELF_SIGNED_DAYS: u64 = 397;
/// A self-signed certificate this close to its end is made again at start.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why the server could not set up TLS; each names the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("the TLS certificate file {} holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("the TLS key file {} holds no PEM private key", path.display())]
    NoKey { path: PathBuf },
    #[error("the TLS key {} does not match the certificate {}", key.display(), certificate.display())]
    KeyMismatch { certificate: PathBuf, key: PathBuf },
    #[error("the TLS certificate {} and key {} cannot be used: {source}", certificate.display(), key.display())]
    Unusable {
        certificate: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("cannot write to the data directory {}: {source}", path.display())]
    DataDir { path: PathBuf, source: io::Error },
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Where the certificate came from, for the start-up banner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Files,
    /// Made now (`made`) or reused from an earlier start.
    SelfSigned {
        made: bool,
    },
}

/// A certificate ready to serve.
#[derive(Clone)]
pub struct Tls {
    pub server_config: Arc<ServerConfig>,
    pub certificate_path: PathBuf,
    /// SHA-256 of the leaf certificate, as browsers show it (`AB:CD:…`).
    pub fingerprint: String,
    /// The leaf certificate, for clients (and tests) that trust exactly it.
    pub certificate: CertificateDer<'static>,
    pub origin: Origin,
}

/// Loads the operator's certificate chain and key.
pub fn from_files(certificate: &Path, key: &Path) -> Result<Tls, TlsError> {
    load(certificate, key, Origin::Files)
}

/// Reads a PEM chain and key from disk and makes them ready to serve.
fn load(certificate: &Path, key: &Path, origin: Origin) -> Result<Tls, TlsError> {
    build(
        read_chain(certificate)?,
        read_key(key)?,
        certificate,
        key,
        origin,
    )
}

/// The names a self-signed certificate must hold on this machine: the loopback names and its
/// IPv4 addresses. Not its IPv6 ones: with privacy extensions a new temporary address comes
/// every day or so, and each would make a new certificate for every phone to accept again;
/// the URLs a phone is given are IPv4. `lan` is what [`lan_addresses`] found.
pub fn machine_names(lan: &[IpAddr]) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ["localhost", "127.0.0.1", "::1"]
        .into_iter()
        .map(String::from)
        .collect();
    names.extend(
        lan.iter()
            .filter(|ip| ip.is_ipv4())
            .map(ToString::to_string),
    );
    names
}

/// The addresses another device may reach this machine on: interfaces that are up, the one
/// of the default route first (most likely the Wi-Fi a phone is on, not a container bridge),
/// then IPv4 before IPv6.
pub fn lan_addresses() -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> = match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces
            .iter()
            .filter(|interface| interface.is_oper_up() && !interface.is_p2p())
            .map(if_addrs::Interface::ip)
            .filter(|ip| reachable_from_lan(*ip))
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "cannot list the network interfaces");
            Vec::new()
        }
    };
    let routed = default_route_address();
    addresses.sort_by_key(|ip| (Some(*ip) != routed, ip.is_ipv6(), *ip));
    addresses.dedup();
    addresses
}

/// The local address the kernel would send from to the Internet. Connecting a UDP socket
/// sends nothing; it only picks the route.
fn default_route_address() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // A documentation address (TEST-NET-1): never contacted, only routed.
    socket
        .connect((std::net::Ipv4Addr::new(192, 0, 2, 1), 9))
        .ok()?;
    Some(socket.local_addr().ok()?.ip())
}

fn reachable_from_lan(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_unspecified() && !v4.is_link_local(),
        IpAddr::V6(v6) => {
            !v6.is_loopback() && !v6.is_unspecified() && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
    }
}

/// What is kept beside a self-signed certificate to decide whether it still fits.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SelfSignedRecord {
    names: BTreeSet<String>,
    /// Seconds since the Unix epoch.
    not_after: u64,
}

/// The self-signed certificate under `data_dir`, made or made again when it does not name
/// every one of `names`.
pub fn self_signed(data_dir: &Path, names: &BTreeSet<String>) -> Result<Tls, TlsError> {
    let dir = data_dir.join("tls");
    let data_dir_error = |source| TlsError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(&dir).map_err(data_dir_error)?;
    let certificate_path = dir.join("self-signed-cert.pem");
    let key_path = dir.join("self-signed-key.pem");
    let record_path = dir.join("self-signed.json");

    let record: Option<SelfSignedRecord> = fs::read(&record_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let renew_by = unix_seconds(SystemTime::now() + RENEW_BEFORE);
    if let Some(record) = &record {
        if record.names.is_superset(names) && record.not_after > renew_by {
            let reused = load(
                &certificate_path,
                &key_path,
                Origin::SelfSigned { made: false },
            );
            match reused {
                Ok(tls) => return Ok(tls),
                Err(error) => tracing::warn!(%error, "making the self-signed certificate again"),
            }
        }
    }

    let mut all_names = names.clone();
    if let Some(record) = record {
        all_names.extend(record.names);
    }
    let (certificate_pem, key_pem, not_after) = generate(&all_names)?;
    write_private(&key_path, key_pem.as_bytes()).map_err(data_dir_error)?;
    write_private(&certificate_path, certificate_pem.as_bytes()).map_err(data_dir_error)?;
    let record = SelfSignedRecord {
        names: all_names,
        not_after,
    };
    // Serialising a struct of strings and a number cannot fail.
    let record = serde_json::to_vec_pretty(&record).expect("a plain record serialises");
    write_private(&record_path, &record).map_err(data_dir_error)?;
    // Read back from disk: what the next start will reuse is what is served now.
    load(
        &certificate_path,
        &key_path,
        Origin::SelfSigned { made: true },
    )
}

fn generate(names: &BTreeSet<String>) -> Result<(String, String, u64), TlsError> {
    let mut params = rcgen::CertificateParams::new(names.iter().cloned().collect::<Vec<_>>())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "portals (self-signed)");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let now = SystemTime::now();
    // A day back, so that a phone whose clock is a little behind accepts it.
    let not_before = now - Duration::from_secs(24 * 3600);
    let not_after = now + Duration::from_secs(SELF_SIGNED_DAYS * 24 * 3600);
    params.not_before = time::OffsetDateTime::from(not_before);
    params.not_after = time::OffsetDateTime::from(not_after);
    let key = rcgen::KeyPair::generate()?;
    let certificate = params.self_signed(&key)?;
    Ok((
        certificate.pem(),
        key.serialize_pem(),
        unix_seconds(not_after),
    ))
}

/// Writes through a temporary file and a rename, so that an interrupted start never leaves
/// half a key; readable by the owner only.
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension("tmp");
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        io::Write::write_all(&mut file, contents)?;
        file.sync_all()?;
    }
    fs::rename(&temporary, path)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path, "certificate")?;
    let chain: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path, "key")?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| TlsError::NoKey {
        path: path.to_path_buf(),
    })
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn build(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    certificate_path: &Path,
    key_path: &Path,
    origin: Origin,
) -> Result<Tls, TlsError> {
    let leaf = chain[0].clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let result = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key));
    let mut server_config = match result {
        Ok(config) => config,
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(TlsError::KeyMismatch {
                certificate: certificate_path.to_path_buf(),
                key: key_path.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(TlsError::Unusable {
                certificate: certificate_path.to_path_buf(),
                key: key_path.to_path_buf(),
                source,
            })
        }
    };
    // axum serves HTTP/1.1 here; WebSockets need it.
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        server_config: Arc::new(server_config),
        certificate_path: certificate_path.to_path_buf(),
        fingerprint: fingerprint(&leaf),
        certificate: leaf,
        origin,
    })
}

/// The SHA-256 fingerprint as browsers print it: upper-case hex pairs joined by colons.
pub fn fingerprint(certificate: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(certificate.as_ref());
    let mut text = String::with_capacity(digest.len() * 3);
    for (i, byte) in digest.iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02X}");
    }
    text
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    fn temporary_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("portals-tls-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_self_signed_certificate_is_kept_until_an_address_is_missing() {
        let dir = temporary_dir("kept");
        let first = self_signed(&dir, &names(&["localhost", "127.0.0.1"])).unwrap();
        assert_eq!(first.origin, Origin::SelfSigned { made: true });

        let again = self_signed(&dir, &names(&["localhost"])).unwrap();
        assert_eq!(again.origin, Origin::SelfSigned { made: false });
        assert_eq!(again.fingerprint, first.fingerprint);

        let moved = self_signed(&dir, &names(&["localhost", "192.168.1.20"])).unwrap();
        assert_eq!(moved.origin, Origin::SelfSigned { made: true });
        assert_ne!(moved.fingerprint, first.fingerprint);
        let record: SelfSignedRecord =
            serde_json::from_slice(&fs::read(dir.join("tls/self-signed.json")).unwrap()).unwrap();
        assert_eq!(
            record.names,
            names(&["localhost", "127.0.0.1", "192.168.1.20"]),
            "the old addresses are kept"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join("tls/self-signed-key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_certificate_names_loopback_and_ipv4_addresses_only() {
        let lan = [
            "192.168.1.20".parse().unwrap(),
            "2001:db8::20".parse().unwrap(),
        ];
        assert_eq!(
            machine_names(&lan),
            names(&["localhost", "127.0.0.1", "::1", "192.168.1.20"])
        );
    }

    #[test]
    fn a_fingerprint_reads_like_a_browsers() {
        let text = fingerprint(&CertificateDer::from(vec![1, 2, 3]));
        assert_eq!(text.len(), 32 * 3 - 1);
        assert!(text.starts_with("03:90:58:C6:F2:C0:CB:49"), "{text}");
    }

    #[test]
    fn link_local_and_loopback_addresses_are_not_for_the_lan() {
        assert!(reachable_from_lan("192.168.1.20".parse().unwrap()));
        assert!(reachable_from_lan("2001:db8::1".parse().unwrap()));
        assert!(!reachable_from_lan("127.0.0.1".parse().unwrap()));
        assert!(!reachable_from_lan("169.254.3.4".parse().unwrap()));
        assert!(!reachable_from_lan("fe80::1".parse().unwrap()));
        assert!(!reachable_from_lan("::1".parse().unwrap()));
    }
}
