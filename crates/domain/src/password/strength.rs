//! The bounded form of a new password that zxcvbn judges (issue 25: an
//! input built to be slow to judge must cost no more than a login).

/// The characters of a password zxcvbn judges, so that the worst input costs
/// about a login (argon2) and not half a second.
///
/// zxcvbn's l33t matcher runs every dictionary over every substring once per
/// combination of substitutions the input's symbols allow (`1` and `|` read
/// as `i` or `l`; `(`, `{`, `[`, `<` as `c`; …): the work is that number of
/// combinations times n²/2, and a 128-character string of every l33t symbol
/// took 1.1 s of CPU. Two bounds:
/// - **the first [`JUDGED_CHARS`] characters**: whoever guesses the whole
///   password guesses its beginning too, so the whole is at least as strong
///   as the part judged;
/// - **at most [`MAX_L33T_COMBINATIONS`]**: l33t symbols are taken in order
///   of first appearance while they keep the combinations within the bound;
///   a later one that would exceed it is judged as a symbol zxcvbn reads
///   literally (`(` as `)`, `1` as `~`, …). Only a "word" spelled with
///   several alternative symbols for the same letters at once could be
///   underrated by this; real weak passwords use one spelling per letter.
///
/// Measured in release on this project's machine: the worst of 1,200
/// adversarial inputs costs 16 ms (argon2 for one login: 25 ms).
pub(super) fn judged_form(raw: &str) -> String {
    let mut kept: Vec<char> = Vec::new();
    let mut literal: Vec<char> = Vec::new();
    let judged = || raw.chars().take(JUDGED_CHARS);
    for c in judged() {
        if kept.contains(&c) || literal.contains(&c) || !is_l33t(c) {
            continue;
        }
        kept.push(c);
        if l33t_combinations(&kept) > MAX_L33T_COMBINATIONS {
            kept.pop();
            literal.push(c);
        }
    }
    judged()
        .map(|c| {
            if literal.contains(&c) {
                read_literally(c)
            } else {
                c
            }
        })
        .collect()
}

/// How many characters of a new password zxcvbn judges.
pub(super) const JUDGED_CHARS: usize = 64;
/// The most l33t substitution combinations zxcvbn is given.
pub(super) const MAX_L33T_COMBINATIONS: usize = 8;

/// zxcvbn's (3.x) l33t table: the letters each symbol may stand for.
const L33T_TABLE: [(char, &[char]); 12] = [
    ('a', &['4', '@']),
    ('b', &['8']),
    ('c', &['(', '{', '[', '<']),
    ('e', &['3']),
    ('g', &['6', '9']),
    ('i', &['1', '!', '|']),
    ('l', &['1', '|', '7']),
    ('o', &['0']),
    ('s', &['$', '5']),
    ('t', &['+', '7']),
    ('x', &['%']),
    ('z', &['2']),
];

pub(super) fn is_l33t(c: char) -> bool {
    L33T_TABLE.iter().any(|(_, symbols)| symbols.contains(&c))
}

/// The substitution tables zxcvbn enumerates for an input with `present`.
pub(super) fn l33t_combinations(present: &[char]) -> usize {
    L33T_TABLE
        .iter()
        .map(|(_, symbols)| {
            symbols
                .iter()
                .filter(|s| present.contains(s))
                .count()
                .max(1)
        })
        .product()
}

/// A symbol outside the l33t table, of the same kind, for one inside it.
fn read_literally(c: char) -> char {
    match c {
        '(' => ')',
        '{' => '}',
        '[' => ']',
        '<' => '>',
        '!' => '?',
        '|' => '\\',
        '$' => '&',
        '+' => '=',
        '%' => '^',
        '@' => '#',
        _ => '~',
    }
}
