//! The three name tables libutp exports as data (API notes section 1.2 and 1.5). Programs
//! index them directly and may take them by copy relocation, so each is exported as an array
//! object of exactly libutp's size, not as a pointer or a function.
#![allow(non_upper_case_globals)]

use core::ffi::c_char;

/// An array of C string pointers that may live in a `static`.
#[repr(transparent)]
pub struct NameTable<const N: usize>(pub [*const c_char; N]);

// SAFETY: the table is immutable and points at string literals with static lifetime.
unsafe impl<const N: usize> Sync for NameTable<N> {}

impl<const N: usize> NameTable<N> {
    /// Entry `i` as text, if present and non-NULL.
    pub fn get(&self, i: usize) -> Option<&'static str> {
        let p = *self.0.get(i)?;
        if p.is_null() {
            return None;
        }
        // SAFETY: every non-NULL entry is a NUL-terminated ASCII literal with static lifetime.
        unsafe { core::ffi::CStr::from_ptr(p) }.to_str().ok()
    }
}

/// `utp_callback_names`: the callback slots 0 to 15.
#[no_mangle]
pub static utp_callback_names: NameTable<16> = NameTable([
    c"UTP_ON_FIREWALL".as_ptr(),
    c"UTP_ON_ACCEPT".as_ptr(),
    c"UTP_ON_CONNECT".as_ptr(),
    c"UTP_ON_ERROR".as_ptr(),
    c"UTP_ON_READ".as_ptr(),
    c"UTP_ON_OVERHEAD_STATISTICS".as_ptr(),
    c"UTP_ON_STATE_CHANGE".as_ptr(),
    c"UTP_GET_READ_BUFFER_SIZE".as_ptr(),
    c"UTP_ON_DELAY_SAMPLE".as_ptr(),
    c"UTP_GET_UDP_MTU".as_ptr(),
    c"UTP_GET_UDP_OVERHEAD".as_ptr(),
    c"UTP_GET_MILLISECONDS".as_ptr(),
    c"UTP_GET_MICROSECONDS".as_ptr(),
    c"UTP_GET_RANDOM".as_ptr(),
    c"UTP_LOG".as_ptr(),
    c"UTP_SENDTO".as_ptr(),
]);

/// `utp_error_code_names`: indexed by `UTP_ECONNREFUSED` (0) to `UTP_ETIMEDOUT` (2).
#[no_mangle]
pub static utp_error_code_names: NameTable<3> = NameTable([
    c"UTP_ECONNREFUSED".as_ptr(),
    c"UTP_ECONNRESET".as_ptr(),
    c"UTP_ETIMEDOUT".as_ptr(),
]);

/// `utp_state_names`: indexed by state; entry 0 is NULL.
#[no_mangle]
pub static utp_state_names: NameTable<5> = NameTable([
    core::ptr::null(),
    c"UTP_STATE_CONNECT".as_ptr(),
    c"UTP_STATE_WRITABLE".as_ptr(),
    c"UTP_STATE_EOF".as_ptr(),
    c"UTP_STATE_DESTROYING".as_ptr(),
]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_libutp_sizes_and_entries() {
        assert_eq!(
            core::mem::size_of_val(&utp_callback_names),
            16 * core::mem::size_of::<usize>()
        );
        assert_eq!(utp_callback_names.get(15), Some("UTP_SENDTO"));
        assert_eq!(utp_error_code_names.get(1), Some("UTP_ECONNRESET"));
        assert_eq!(utp_state_names.get(0), None);
        assert_eq!(utp_state_names.get(4), Some("UTP_STATE_DESTROYING"));
    }
}
