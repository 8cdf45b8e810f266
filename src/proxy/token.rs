//! The token scheme of an event loop: listeners, the waker, then for each
//! slab key `k` one token for the client side and one for the upstream
//! side, so no token is ever shared and decoding needs no lookup.

use mio::Token;

/// How many listen sockets one loop can have.
pub const MAX_LISTENERS: usize = 16;
/// Wakes the loop for a command (reload, shutdown).
pub const WAKER: Token = Token(MAX_LISTENERS);
const FIRST_CONNECTION: usize = MAX_LISTENERS + 1;

/// What a token stands for.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Target {
    Listener(usize),
    Waker,
    Client(usize),
    Upstream(usize),
}

pub fn listener(index: usize) -> Token {
    Token(index)
}

pub fn client(key: usize) -> Token {
    Token(FIRST_CONNECTION + 2 * key)
}

pub fn upstream(key: usize) -> Token {
    Token(FIRST_CONNECTION + 2 * key + 1)
}

pub fn decode(token: Token) -> Target {
    match token.0 {
        n if n < MAX_LISTENERS => Target::Listener(n),
        n if n == WAKER.0 => Target::Waker,
        n if (n - FIRST_CONNECTION).is_multiple_of(2) => Target::Client((n - FIRST_CONNECTION) / 2),
        n => Target::Upstream((n - FIRST_CONNECTION) / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for i in 0..MAX_LISTENERS {
            assert_eq!(decode(listener(i)), Target::Listener(i));
        }
        assert_eq!(decode(WAKER), Target::Waker);
        for key in [0, 1, 2, 1000, 123_456] {
            assert_eq!(decode(client(key)), Target::Client(key));
            assert_eq!(decode(upstream(key)), Target::Upstream(key));
            assert_ne!(client(key), upstream(key));
            assert_ne!(client(key), WAKER);
        }
    }
}
