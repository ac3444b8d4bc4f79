/* codes.c -- the catalogue of diagnostic codes (SPEC.md 2.2 and 6.2): for
 * each stable code its default severity, a short description and the
 * SPEC.md section that documents it.  SARIF logs list it as their rules;
 * tests/ci/run.sh checks that it names exactly the codes of SPEC.md. */
#include <string.h>
#include "diag.h"

#define E KD_ERROR
#define W KD_WARNING
#define N KD_NOTE
#define CODES "22-codes"

static const KCodeInfo catalogue[] = {
    { "K0001", E, "cannot read file", CODES },
    { "K0002", E, "out of memory", CODES },
    { "K0003", E, "bytecode, not policy source", CODES },
    { "K0101", E, "unexpected character", CODES },
    { "K0102", E, "invalid UTF-8", CODES },
    { "K0103", E, "unclosed string", CODES },
    { "K0104", E, "unknown escape in a string", CODES },
    { "K0105", E, "not a number or a duration", CODES },
    { "K0106", E, "duration too large", CODES },
    { "K0107", E, "bad clock time", CODES },
    { "K0108", E, "number too long or too large", CODES },
    { "K0109", E, "too many errors", CODES },
    { "K0201", E, "syntax error", CODES },
    { "K0202", E, "then without a channel before it", CODES },
    { "K0203", E, "at a time without every", CODES },
    { "K0204", E, "clause given twice", CODES },
    { "K0205", E, "after a duration without an event", CODES },
    { "K0206", E, "reminder without a delay", CODES },
    { "K0207", E, "empty or inverted time window", CODES },
    { "K0208", E, "24:00 that does not end a window", CODES },
    { "K0209", E, "count, priority or percentage out of range", CODES },
    { "K0210", E, "misplaced cap or channel list", CODES },
    { "K0211", W, "retired: cap read as a clause of the rule above", CODES },
    { "K0212", E, "unknown period", CODES },
    { "K0213", E, "unknown attribute type", CODES },
    { "K0214", E, "unknown survey field", CODES },
    { "K0215", E, "survey scale from high to low", CODES },
    { "K0216", E, "variant sets a delay or channel twice", CODES },
    { "K0217", E, "cap window of 0", CODES },
    { "K0218", E, "reminder delay of 0", CODES },
    { "K0219", E, "period of 0", CODES },
    { "K0220", E, "unknown retrigger mode", CODES },
    { "K0221", E, "expression nested too deeply", CODES },
    { "K0222", E, "clause in column 1", CODES },
    { "K0223", E, "indented declaration", CODES },
    { "K0301", W, "undeclared event", CODES },
    { "K0302", E, "unknown event", CODES },
    { "K0303", E, "unknown channel", CODES },
    { "K0304", E, "unknown survey", CODES },
    { "K0305", E, "two rules with one name", CODES },
    { "K0306", E, "policy name or time zone given twice", CODES },
    { "K0307", E, "name declared twice", CODES },
    { "K0308", E, "unknown module", CODES },
    { "K0309", E, "let that refers to itself", CODES },
    { "K0310", E, "unknown attribute of an event", CODES },
    { "K0311", E, "attribute declared twice", CODES },
    { "K0312", E, "reserved attribute with another type", CODES },
    { "K0313", E, "bad policy name", CODES },
    { "K0314", E, "unknown time zone", CODES },
    { "K0315", E, "built-in name redefined", CODES },
    { "K0316", E, "too many channels", CODES },
    { "K0317", E, "lets nested too deeply", CODES },
    { "K0318", E, "lets write out too large an expression", CODES },
    { "K0401", E, "event name expected", CODES },
    { "K0402", E, "duration expected", CODES },
    { "K0403", E, "bool expected", CODES },
    { "K0404", E, "comparison of different types", CODES },
    { "K0405", E, "order comparison of bools", CODES },
    { "K0406", E, "arithmetic on mismatched types", CODES },
    { "K0407", E, "no applied to a value", CODES },
    { "K0408", E, "trigger without an attribute", CODES },
    { "K0409", E, "unknown name in a rule", CODES },
    { "K0410", E, "function given a filter it does not take", CODES },
    { "K0411", E, "count with more than one argument", CODES },
    { "K0412", E, "attribute read from the wrong place", CODES },
    { "K0413", E, "last without an attribute", CODES },
    { "K0414", E, "sum without an attribute", CODES },
    { "K0415", E, "sum of a non-number attribute", CODES },
    { "K0416", E, "asked without a survey", CODES },
    { "K0417", E, "best_time outside a send window", CODES },
    { "K0418", E, "unknown function", CODES },
    { "K0419", E, "condition that is not a bool", CODES },
    { "K0420", E, "count where nested too deeply", CODES },
    { "K0421", E, "condition too deep for the stack", CODES },
    { "K0422", E, "within window not a constant duration", CODES },
    { "K0501", E, "ask or task without a trigger", CODES },
    { "K0503", E, "task with a reminder chain", CODES },
    { "K0504", E, "task with a cap", CODES },
    { "K0505", E, "task with variants", CODES },
    { "K0506", E, "variants over 100 percent", CODES },
    { "K0507", E, "variant declared twice", CODES },
    { "K0601", W, "ask without a frequency cap", CODES },
    { "K0602", W, "cap looser than the top-level cap", CODES },
    { "K0603", W, "event declared but never used", CODES },
    { "K0604", W, "channel listed twice", CODES },
    { "K0605", W, "name read as a trigger attribute", CODES },
    { "K0606", W, "event name read as an attribute", CODES },
    { "K0607", W, "within taken as the count's window", CODES },
    { "K0701", W, "rule that can never fire", "k0701-a-rule-that-can-never-fire" },
    { "K0702", W, "reminder chain as long as the cap window", "k0702-a-reminder-chain-at-least-as-long-as-the-cap-window" },
    { "K0703", W, "SMS without quiet hours", "k0703-sms-without-quiet-hours" },
    { "K0704", W, "SMS or WhatsApp without consent", "k0704-sms-or-whatsapp-without-consent" },
    { "K0705", W, "ask that no cap limits", "k0705-an-ask-that-no-cap-limits" },
    { "K0706", W, "unnamed rule among several", "k0706-an-unnamed-rule-among-several" },
    { "K0707", N, "reminder chain past a consent gate", "k0707-a-note-a-reminder-chain-that-reaches-past-a-consent-gate" },
    { "K0708", W, "policy without rules", "k0708-a-policy-without-rules" },
    { "K0799", E, "formatter refused a file", "k0799-the-formatter-refused-a-file" },
};

const KCodeInfo *kd_codes(size_t *n)
{
    *n = sizeof catalogue / sizeof catalogue[0];
    return catalogue;
}

int kd_code_index(const char *code)
{
    if (!code) return -1;
    for (size_t i = 0; i < sizeof catalogue / sizeof catalogue[0]; i++)
        if (strcmp(catalogue[i].code, code) == 0) return (int)i;
    return -1;
}
