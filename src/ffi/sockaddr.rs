//! Conversions between C `sockaddr` structures and `SocketAddr`, as libutp reports addresses:
//! IPv4 (and IPv4-mapped IPv6) as `sockaddr_in`, everything else as `sockaddr_in6` with scope
//! and flow info zeroed (API notes section 3.2).

use core::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A socket address in C form, big enough for either family.
#[derive(Clone, Copy)]
pub struct CSockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl CSockAddr {
    /// Pointer for C.
    pub fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    /// Length for C.
    pub fn len(&self) -> libc::socklen_t {
        self.len
    }

    /// Always false: a converted address has a length.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// `addr` in C form, IPv4-mapped addresses folded to IPv4.
pub fn to_c(addr: SocketAddr) -> CSockAddr {
    let addr = normalize(addr);
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid (unspecified) value.
    let mut storage: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { core::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6 and suitably aligned.
            unsafe { core::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    CSockAddr {
        storage,
        len: len as libc::socklen_t,
    }
}

/// Reads a C address of `len` bytes. `None` for NULL, a short length or another family.
///
/// # Safety
/// `addr`, when not NULL, must point at `len` readable bytes.
pub unsafe fn from_c(addr: *const libc::sockaddr, len: libc::socklen_t) -> Option<SocketAddr> {
    if addr.is_null() || (len as usize) < size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY: the caller guarantees `len` readable bytes; the family field comes first.
    let family = i32::from(unsafe { core::ptr::read_unaligned(addr) }.sa_family);
    let parsed = match family {
        libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: length checked against sockaddr_in; read_unaligned tolerates any alignment.
            let sin = unsafe { core::ptr::read_unaligned(addr.cast::<libc::sockaddr_in>()) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: length checked against sockaddr_in6; read_unaligned tolerates any alignment.
            let sin6 = unsafe { core::ptr::read_unaligned(addr.cast::<libc::sockaddr_in6>()) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(sin6.sin6_port), 0, 0))
        }
        _ => return None,
    };
    Some(normalize(parsed))
}

/// Folds an IPv4-mapped IPv6 address to IPv4 and drops scope and flow info, so one peer has
/// one key whatever form the application used.
pub fn normalize(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, a.port())),
            None => SocketAddr::V6(SocketAddrV6::new(*a.ip(), a.port(), 0, 0)),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_folds_mapped_addresses() {
        for s in ["127.0.0.1:6881", "[::1]:80", "[fd00::5]:1"] {
            let a: SocketAddr = s.parse().unwrap();
            let c = to_c(a);
            assert_eq!(unsafe { from_c(c.as_ptr(), c.len()) }, Some(a));
        }
        let mapped: SocketAddr = "[::ffff:10.1.2.3]:9".parse().unwrap();
        let c = to_c(mapped);
        assert_eq!(c.len() as usize, size_of::<libc::sockaddr_in>());
        assert_eq!(
            unsafe { from_c(c.as_ptr(), c.len()) },
            Some("10.1.2.3:9".parse().unwrap())
        );
        let v4 = to_c("1.2.3.4:5".parse().unwrap());
        assert_eq!(unsafe { from_c(v4.as_ptr(), 4) }, None, "short length");
        assert_eq!(unsafe { from_c(core::ptr::null(), 16) }, None);
    }
}
