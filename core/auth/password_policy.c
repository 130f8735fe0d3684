/* password_policy: see password_policy.h. */
#include "auth/password_policy.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"

/*
 * The most common passwords of the public breach corpora, lower-case.
 * Entries shorter than VG_PASSWORD_MIN matter as stems: "monkey" refuses
 * "monkey123" and "Monkey!!" once trailing digits and symbols are cut.
 */
static const char *const common[] = {
    "000000", "111111", "112233", "121212", "123123", "123321", "1234", "12345", "123456", "1234567",
    "12345678", "123456789", "1234567890", "12345678910", "123654", "123qwe", "147258369", "159753", "1q2w3e",
    "1q2w3e4r", "1q2w3e4r5t", "1qaz2wsx", "1qaz2wsx3edc", "654321", "666666", "696969", "7777777", "87654321",
    "987654321", "9876543210", "aa123456", "aaaaaa", "abc123", "abcd1234", "abcdef", "abcdefg", "abcdefgh",
    "access", "admin", "admin123", "administrator", "adobe123", "asdf", "asdf1234", "asdfasdf", "asdfgh",
    "asdfghjk", "asdfghjkl", "ashley", "azerty", "azertyuiop", "bailey", "baseball", "basketball", "batman",
    "blink182", "buster", "changeme", "charlie", "cheese", "chocolate", "computer", "corvette", "dallas",
    "default", "donald", "dragon", "duhast", "flower", "football", "freedom", "gandalf", "ginger", "guest",
    "hello", "hello123", "hellohello", "helloworld", "hockey", "hottie", "hunter", "iloveyou", "internet",
    "jennifer", "jessica", "jordan", "jordan23", "killer", "letmein", "liverpool", "login", "lovely", "loveme",
    "maggie", "master", "matrix", "mercedes", "michael", "michelle", "monkey", "mustang", "myspace", "nicole",
    "ninja", "oliver", "p@ssw0rd", "p@ssword", "pa$$word", "pass", "pass1234", "passw0rd", "password",
    "password1", "password12", "password123", "pepper", "photoshop", "picture", "princess", "qazwsx",
    "qazwsxedc", "qwe123", "qweasd", "qweasdzxc", "qwer1234", "qwerty", "qwerty123", "qwertyui", "qwertyuiop",
    "qwertz", "qwertzuiop", "ranger", "root", "samsung", "secret", "security", "shadow", "soccer", "starwars",
    "summer", "sunshine", "superman", "test", "test123", "tester", "testing", "thomas", "tigger", "toor",
    "trustno1", "unknown", "vigia", "welcome", "winter", "xxxxxx", "yankees", "zaq12wsx", "zxcvbn", "zxcvbnm",
};


/* A lower-case copy of s (n bytes) in out (cap bytes, NUL-terminated); its length. */
static size_t
lower(char *out, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[n] = '\0';
    return n;
}


static int
listed(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        if (strlen(common[i]) == n && memcmp(common[i], s, n) == 0)
            return 1;
    return 0;
}


int
vg_password_is_common(const char *pw, size_t n)
{
    char low[VG_STORE_MAX_PASSWORD + 1];
    n = lower(low, sizeof low, pw, n);
    if (listed(low, n))
        return 1;
    /* "sunshine2024!", "monkey123": the stem before trailing digits and symbols */
    size_t stem = n;
    while (stem > 0 && !isalpha((unsigned char)low[stem - 1]))
        stem--;
    return stem > 0 && stem < n && listed(low, stem);
}


/* 1 when name (of 3 characters or more) is pw, or is inside it, case-insensitively. */
static int
holds_name(const char *pw, size_t n, const char *name)
{
    char lp[VG_STORE_MAX_PASSWORD + 1], ln[128];
    size_t nn = name ? strlen(name) : 0;
    if (nn == 0 || nn >= sizeof ln)
        return 0;
    n = lower(lp, sizeof lp, pw, n);
    nn = lower(ln, sizeof ln, name, nn);
    if (nn == n)
        return memcmp(lp, ln, n) == 0;
    return nn >= 3 && strstr(lp, ln) != NULL;
}


int
vg_password_policy_check(const char *pw, size_t n, const char *name, char *err, size_t errlen)
{
    int rc = -1;
    size_t spaces = 0, same = 0;
    for (size_t i = 0; i < n; i++) {
        spaces += isspace((unsigned char)pw[i]) != 0;
        same += pw[i] == pw[0];
    }
    if (n < VG_PASSWORD_MIN || n > VG_STORE_MAX_PASSWORD || memchr(pw, '\0', n))
        snprintf(err, errlen, "password must be %d to %d bytes", VG_PASSWORD_MIN, VG_STORE_MAX_PASSWORD);
    else if (spaces == n)
        snprintf(err, errlen, "password must not be only whitespace: choose a few unrelated words");
    else if (same == n)
        snprintf(err, errlen, "password must not repeat one character: choose a few unrelated words");
    else if (holds_name(pw, n, name))
        snprintf(err, errlen, "password must not be or contain the user name: choose a few unrelated words");
    else if (vg_password_is_common(pw, n))
        snprintf(err, errlen, "password is one of the most common passwords: choose a few unrelated words");
    else
        rc = 0;
    return rc;
}
