{#- The body measures (text_length, word_count, paragraph_count) on bodies that dbt's unit-test
    fixtures cannot carry (carriage returns, form feeds, vertical tabs, no-break spaces), each
    expected value counted by hand. Returns the bodies whose measures differ. -#}

with

bodies as (
    select
        hand_checked.body_id,
        hand_checked.body,
        hand_checked.expected_length,
        hand_checked.expected_words,
        hand_checked.expected_paragraphs
    from (
        values
        (1, 'a' || chr(11) || 'b' || chr(12) || 'c' || chr(13) || chr(10) || 'd' || chr(160) || 'e', 10, 4, 1),
        (2, e'\t  x  \n\n\n\n  y\r\n \r\n\tz \n\n', 23, 3, 3),
        (3, chr(12), 1, 0, 0),
        (4, e'x\r\n\r\ny', 6, 2, 2),
        (5, e'a\n\t\nb\n', 6, 2, 2),
        (6, '  lead and trail  ', 18, 3, 1),
        (7, 'x', 1, 1, 1),
        (8, e'\n\n\n', 3, 0, 0),
        (9, e'one\n\n', 5, 1, 1),
        (10, e' \n \nstart', 9, 1, 1),
        (11, e'tab\tseparated' || chr(11) || e'words\fhere', 24, 4, 1),
        (12, e'p1 line1\np1 line2\n' || chr(12) || e'\np2', 22, 5, 2),
        (13, '', 0, 0, 0),
        (14, null, null, null, null)
    ) as hand_checked (body_id, body, expected_length, expected_words, expected_paragraphs)
),

measured as (
    select
        *,
        {{ text_length('body') }} as text_length_chars,
        {{ word_count('body') }} as word_count,
        {{ paragraph_count('body') }} as paragraph_count
    from bodies
)

select *
from measured
where
    text_length_chars is distinct from expected_length
    or word_count is distinct from expected_words
    or paragraph_count is distinct from expected_paragraphs
