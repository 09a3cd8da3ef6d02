{#- mask_personal_data on hand-checked URLs and free text: URL user info in every form an
    attacker tried ('#', '/', '?', '\' and '@' in passwords, backslash and one-slash schemes,
    URLs embedded in Wayback URLs and query strings), the URLs without credentials that must
    stay as they are ('@' paths, IPv6, ports, '@' in query and fragment, mailto:), credential
    query parameters (upper case, '&amp;', fragment, matrix and percent-encoded parameters,
    empty values, names that are not credentials) and e-mail addresses (several, in a path
    segment, '%40'-encoded, Unicode, a '@2x' image that is not one). expected: the default
    (e-mail addresses masked); expected_kept: with keep_personal_data true (credentials
    removed all the same). Returns the rows whose result differs. -#}

with

hand_checked as (
    select
        cases.case_id,
        cases.is_url,
        cases.raw_text,
        cases.expected,
        coalesce(cases.expected_kept, cases.expected) as expected_kept
    from (
        values
        -- user info, by the rule of url_user_info_pattern
        (1, true, 'https://admin:PLANT1-S3cr#t@shop.example/x', 'https://shop.example/x', null),
        (2, true, 'https://dave:PLANT6-p/w@h2.example/people/@alice', 'https://h2.example/people/@alice', null),
        (3, true, 'https://gina:PLANT9-pw?x@h6.example/?a=b@c', 'https://h6.example/?a=b@c', null),
        (4, true, 'https://carol:PLANT3-a@b@h.example/', 'https://h.example/', null),
        (5, true, 'https://web.archive.org/web/2020/http:/bob:PLANT2-pw@old.example/', 'https://web.archive.org/web/2020/http:/old.example/', null),
        (6, true, 'https:\\hank:PLANT10@h7.example/x', 'https:\\h7.example/x', null),
        (7, true, 'https://ivy:PLANT11-p\w@h.example/', 'https://h.example/', null),
        (8, true, 'https://a@b:c#d@host.example/', 'https://host.example/', null),
        (9, true, 'https://u:p/w@x@h2.example/', 'https://h2.example/', null),
        (10, true, 'https://admin:123456#t@shop.example/', 'https://shop.example/', null),
        (11, true, 'HTTPS://U:P@Example.org/', 'HTTPS://Example.org/', null),
        (12, true, 'https://alice@example.org/', 'https://example.org/', null),
        (13, true, '//user:pw@host.example/p', '//host.example/p', null),
        (14, true, '\\u:p@host.example/x', '\\host.example/x', null),
        (15, true, 'u:p@example.org/p', 'example.org/p', null),
        (16, true, 'http:u:p@h.example/', 'http:h.example/', null),
        (17, true, 'https://u:p@host.example:8080/x', 'https://host.example:8080/x', null),
        (18, true, 'http://u:p/w@[::1]:8080/', 'http://[::1]:8080/', null),
        (19, true, 'https://u:p@h.example/go?to=https://x:y@z.example/', 'https://h.example/go?to=https://z.example/', null),
        (20, true, 'https://web.archive.org/web/2020/http:bob:pw@old.example/', 'https://web.archive.org/web/2020/http:old.example/', null),
        -- URLs without credentials stay
        (21, true, 'https://medium.com/@user/post', 'https://medium.com/@user/post', null),
        (22, true, 'http://[::1]:8080/@x', 'http://[::1]:8080/@x', null),
        (23, true, 'https://example.org?next=a@b', 'https://example.org?next=a@b', null),
        (24, true, 'https://example.org#a@b', 'https://example.org#a@b', null),
        (25, true, 'https://example.org:8080/p?x=a@b#c@d', 'https://example.org:8080/p?x=a@b#c@d', null),
        (26, true, 'https://localhost:8080/@alice', 'https://localhost:8080/@alice', null),
        -- a password of at most 5 digits before '#' is read as a port (as every parser does);
        -- the fragment then reads as an e-mail address
        (27, true, 'https://admin:1234#t@shop.example/', 'https://admin:1234#<email>/', 'https://admin:1234#t@shop.example/'),
        (28, true, 'file:///etc/x@y', 'file:///etc/x@y', null),
        (29, true, 'mailto:alice@example.org', 'mailto:<email>', 'mailto:alice@example.org'),
        (30, true, 'xmpp:bob@chat.example.org', 'xmpp:<email>', 'xmpp:bob@chat.example.org'),
        (31, true, 'https://h.example/img/logo@2x.png', 'https://h.example/img/logo@2x.png', null),
        -- credential query parameters
        (
            32, true, 'https://h.example/login?access_token=abc123&email=user1@example.org&lang=en',
            'https://h.example/login?access_token=<redacted>&email=<email>&lang=en',
            'https://h.example/login?access_token=<redacted>&email=user1@example.org&lang=en'
        ),
        (
            33, true, 'https://h.example/f.pdf?X-Amz-Credential=AKIA/20240101/s3&X-Amz-Signature=ff00#page=2',
            'https://h.example/f.pdf?X-Amz-Credential=<redacted>&X-Amz-Signature=<redacted>#page=2', null
        ),
        (34, true, 'https://h.example/api?API_KEY=k1&amp;sessionid=s1', 'https://h.example/api?API_KEY=<redacted>&amp;sessionid=<redacted>', null),
        (
            35, true, 'https://h.example/share?to=user1%40mail.com&sig=zz',
            'https://h.example/share?to=<email>&sig=<redacted>', 'https://h.example/share?to=user1%40mail.com&sig=<redacted>'
        ),
        (
            36, true, 'https://h.example/x?token=t&country_code=NL&monkey=1&sort_key=a&session_state=s&key=&auth',
            'https://h.example/x?token=<redacted>&country_code=NL&monkey=1&sort_key=<redacted>&session_state=s&key=&auth', null
        ),
        (37, true, 'https://h.example/#access_token=t1&token_type=bearer', 'https://h.example/#access_token=<redacted>&token_type=bearer', null),
        (
            38, true, 'https://h.example/a;jsessionid=ABC?PHPSESSID=1&Auth_Token=2&client_secret=3&code=4&pwd=5',
            'https://h.example/a;jsessionid=<redacted>?PHPSESSID=<redacted>&Auth_Token=<redacted>&client_secret=<redacted>&code=<redacted>&pwd=<redacted>',
            null
        ),
        (
            39, true, 'https://h.example/r?next=https%3A%2F%2Fx.example%2Fy%3Ftoken%3Dab%2Bc%26lang%3Den',
            'https://h.example/r?next=https%3A%2F%2Fx.example%2Fy%3Ftoken%3D<redacted>%26lang%3Den', null
        ),
        (
            40, true, 'https://web.archive.org/web/2020id_/http://h.example/?password=hunter2',
            'https://web.archive.org/web/2020id_/http://h.example/?password=<redacted>', null
        ),
        -- e-mail addresses
        (
            41, true, 'https://h.example/people/user1@example.org/cv.pdf',
            'https://h.example/people/<email>/cv.pdf', 'https://h.example/people/user1@example.org/cv.pdf'
        ),
        (42, false, 'a@b.org, C.D+x@Mail.Example.CO.UK and e@f', '<email>, <email> and e@f', 'a@b.org, C.D+x@Mail.Example.CO.UK and e@f'),
        (43, false, 'Kontakt: müller@bücher.de (user@163.com)', 'Kontakt: <email> (<email>)', 'Kontakt: müller@bücher.de (user@163.com)'),
        (44, false, 'Reply to user%40example.org', 'Reply to <email>', 'Reply to user%40example.org'),
        -- free text: URLs end at whitespace and quotes
        (45, false, 'HTTP 401 for https://admin:PLANT5-S3cr#t@h.example/x', 'HTTP 401 for https://h.example/x', null),
        (46, false, 'GET http:/eve:PLANT7-pw@h.example/feed?auth=A1 failed', 'GET http:/h.example/feed?auth=<redacted> failed', null),
        (
            47, false, 'see https://h.example:abc then mail bob@x.org',
            'see https://h.example:abc then mail <email>', 'see https://h.example:abc then mail bob@x.org'
        ),
        (48, false, 'token=abc at the start; Error: foo@bar', 'token=<redacted> at the start; Error: foo@bar', null),
        (
            49, false, '{"url": "https://u:p@h.example/?sig=x", "to": "a@b.org"}',
            '{"url": "https://h.example/?sig=<redacted>", "to": "<email>"}',
            '{"url": "https://h.example/?sig=<redacted>", "to": "a@b.org"}'
        ),
        (50, false, 'Custom rule: exclude /tag/', 'Custom rule: exclude /tag/', null),
        (51, false, '', '', null),
        (52, false, null, null, null),
        (53, true, null, null, null)
    ) as cases (case_id, is_url, raw_text, expected, expected_kept)
),

masked as (
    select
        *,
        case
            when is_url then {{ mask_personal_data('raw_text', is_url=true, keep_personal_data=false) }}
            else {{ mask_personal_data('raw_text', keep_personal_data=false) }}
        end as masked_text,
        case
            when is_url then {{ mask_personal_data('raw_text', is_url=true, keep_personal_data=true) }}
            else {{ mask_personal_data('raw_text', keep_personal_data=true) }}
        end as kept_text
    from hand_checked
)

select *
from masked
where
    masked_text is distinct from expected
    or kept_text is distinct from expected_kept
