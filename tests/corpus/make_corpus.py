#!/usr/bin/env python3
"""Writes the spreadsheet corpus: each case is a file as a person's tool would produce it
(<name>.csv) and what the validator must say of it (<name>.expect): the options on the
first line, then one line per data row ("<line> <outcome> [CODES]") or "file <CODE>".
The directory every case is checked against is in tests/spreadsheet_corpus.rs.
Run: python3 tests/corpus/make_corpus.py"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
cases = []


def case(name, method, data, expect, **options):
    if isinstance(data, str):
        data = data.encode("utf-8")
    cases.append((name, method, options, data, expect))


E = "Email,Training,Completion Date\n"
# --- encodings
case("utf8-plain", "email", E + "ana@example.com,Forklift Safety,2024-03-01\n", ["2 ready"])
case("utf8-bom", "email", b"\xef\xbb\xbf" + (E + "ana@example.com,Forklift Safety,2024-03-01\n").encode(), ["2 ready"])
case("utf16le-bom-tab", "email", b"\xff\xfe" + "Email\tCourse\tDate Completed\r\nbo@example.com\tFirst Aid\t2024-03-01\r\n".encode("utf-16-le"), ["2 pending"])
case("utf16be-bom", "email", b"\xfe\xff" + "Email,Course,Date\r\nbo@example.com,First Aid,2024-03-01\r\n".encode("utf-16-be"), ["2 pending"])
case("utf16le-no-bom", "email", "Email\tCourse\tDate\r\nbo@example.com\tFirst Aid\t2024-03-01\r\n".encode("utf-16-le"), ["2 pending"])
case("windows-1252-names", "name", "Name,Training,Date\nJosé Muñoz,First Aid,2024-03-01\n".encode("cp1252"), ["2 pending"])
# Legacy encodings as Excel's plain "CSV" writes them in each region's code page (and old
# Mac Excel in Mac Roman); the names are on the roster signed up, so a wrong reading
# (another person: pending) is told from the right one (ready).
N = "Name,Training,Date\n"
case("windows-1252-signed-up", "name", (N + "François Dupré,First Aid,2024-03-01\nRenée Müller,Forklift Safety,2024-03-02\nNew Persón,First Aid,2024-03-03\n").encode("cp1252"), ["2 ready", "3 ready", "4 pending"], encoding="windows-1252")
case("windows-1250-polish", "name", (N + "Paweł Żółkiewski,First Aid,2024-03-01\nAgnieszka Wójcik-Śliwa,Forklift Safety,2024-03-02\nGrzegorz Brzęczyszczykiewicz,First Aid,2024-03-03\n").encode("cp1250"), ["2 ready", "3 ready", "4 pending"], encoding="windows-1250")
case("windows-1251-russian", "name", (N + "Дмитрий Иванов,First Aid,2024-03-01\nОльга Сергеевна Кузнецова,Forklift Safety,2024-03-02\nНовый Сотрудник,First Aid,2024-03-03\n").encode("cp1251"), ["2 ready", "3 ready", "4 pending"], encoding="windows-1251")
case("mac-roman", "name", (N + "Zoë Ångström,First Aid,2024-03-01\nRenée Müller,Forklift Safety,2024-03-02\n").replace("\n", "\r").encode("mac_roman"), ["2 ready", "3 ready"], encoding="macintosh")
case("dates-two-digit-year-last-century", "email", E + "bo@example.com,First Aid,01/02/65\nbo@example.com,Forklift Safety,15/06/99\nbo@example.com,CPR Level 1,10/10/24\n", ["2 pending", "3 pending", "4 pending"], expect_dates={2: "1965-02-01", 3: "1999-06-15", 4: "2024-10-10"})
case("xlsx-saved-as-csv", "email", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64, ["file NOT_A_CSV"])
case("png-saved-as-csv", "email", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32, ["file NOT_A_CSV"])
case("old-xls", "email", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, ["file NOT_A_CSV"])
case("empty-file", "email", b"", ["file EMPTY_FILE"])
case("header-only", "email", E, ["file NO_DATA_ROWS"])
# --- delimiters, quoting, line ends
case("semicolon-excel-eu", "email", "Email;Training;Completion Date\r\nana@example.com;Forklift Safety;15.03.2024\r\n", ["2 ready"])
case("tab-delimited", "hris", "Employee ID\tTraining\tDate\nE100\tforklift\t2024-03-01\n", ["2 pending"])
case("quoted-delimiters-and-quotes", "email", E + '"bo@example.com","CPR Level 1","2024-03-01"\nana@example.com,"Forklift Safety",2024-02-01\n', ["2 pending", "3 ready"])
case("line-break-inside-quotes", "email", 'Email,Training,Notes,Date\nbo@example.com,First Aid,"line one\nline two",2024-03-01\nana@example.com,First Aid,x,2024-03-02\n', ["2 pending", "4 ready"])
case("crlf-line-ends", "email", (E + "bo@example.com,First Aid,2024-03-01\nana@example.com,First Aid,2024-03-02\n").replace("\n", "\r\n"), ["2 pending", "3 ready"])
case("lone-cr-line-ends", "email", (E + "bo@example.com,First Aid,2024-03-01\nana@example.com,First Aid,2024-03-02\n").replace("\n", "\r"), ["2 pending", "3 ready"])
case("blank-lines-and-trailing-columns", "email", "Email,Training,Completion Date,,\n\nbo@example.com,First Aid,2024-03-01,,\n,,,,\n\nana@example.com,First Aid,2024-03-02,,\n", ["3 pending", "6 ready"])
case("wrong-field-count", "email", E + "bo@example.com,First Aid,2024-03-01,extra\nana@example.com,First Aid\nana@example.com,Forklift Safety,2024-03-05\n", ["2 error WRONG_FIELD_COUNT", "3 error WRONG_FIELD_COUNT", "4 ready"])
case("no-trailing-newline", "email", E + "bo@example.com,First Aid,2024-03-01", ["2 pending"])
# --- headers
case("header-aliases", "email", "E-mail Address,Course Name,Date Completed,Manager\nbo@example.com,First Aid,2024-03-01,Kim\n", ["2 pending"])
case("header-case-and-spaces", "hris", "  EMPLOYEE #  , COURSE ,completed_on\nE200,forklift,2024-03-01\n", ["2 ready"])
case("missing-training-column", "email", "Email,Completion Date\nbo@example.com,2024-03-01\n", ["file MISSING_COLUMN"])
case("missing-person-column", "phone", E + "bo@example.com,First Aid,2024-03-01\n", ["file MISSING_COLUMN"])
case("first-and-last-name-columns", "name", "First Name,Last Name,Training,Date\nAna,Lopez,First Aid,2024-03-01\nSam,Lee,First Aid,2024-03-01\nNew,Person,First Aid,2024-03-01\n", ["2 ready", "3 error AMBIGUOUS_PERSON", "4 pending"])
# --- dates
case("dates-day-first-settled-by-file", "email", E + "bo@example.com,First Aid,03/04/2024\nbo@example.com,Forklift Safety,25/12/2023\n", ["2 pending", "3 pending"], expect_dates={2: "2024-04-03"})
case("dates-month-first-settled-by-file", "email", E + "bo@example.com,First Aid,03/04/2024\nbo@example.com,Forklift Safety,12/25/2023\n", ["2 pending", "3 pending"], expect_dates={2: "2024-03-04"})
case("dates-ambiguous-file", "email", E + "bo@example.com,First Aid,03/04/2024\nbo@example.com,Forklift Safety,2024-01-05\n", ["2 error AMBIGUOUS_DATE", "3 pending"])
case("dates-explicit-format", "email", E + "bo@example.com,First Aid,03/04/2024\n", ["2 pending"], date_format="mdy", expect_dates={2: "2024-03-04"})
case("dates-month-names-and-serials", "email", E + "bo@example.com,First Aid,1 Mar 2024\nbo@example.com,Forklift Safety,March 2 2024\nbo@example.com,CPR Level 1,45353\n", ["2 pending", "3 pending", "4 pending"], expect_dates={4: "2024-03-02"})
case("dates-two-digit-years-and-dots", "email", E + "bo@example.com,First Aid,31.12.23\n", ["2 pending"], expect_dates={2: "2023-12-31"})
case("dates-impossible-future-old", "email", E + "bo@example.com,First Aid,2023-02-30\nbo@example.com,First Aid,2030-01-01\nbo@example.com,First Aid,1901-01-01\nbo@example.com,First Aid,soon\nbo@example.com,First Aid,\n", ["2 error INVALID_DATE", "3 error FUTURE_DATE", "4 error DATE_TOO_OLD", "5 error INVALID_DATE", "6 error MISSING_VALUE"])
case("dates-with-times", "email", E + "bo@example.com,First Aid,2024-03-01T08:30:00Z\nbo@example.com,Forklift Safety,15/03/2024 09:00\n", ["2 pending", "3 pending"])
# --- phones
case("phones-national-with-country", "phone", "Phone,Training,Date\n(415) 555-2671,First Aid,2024-03-01\n415.555.2671,Forklift Safety,2024-03-01\n", ["2 ready", "3 ready"], default_country="US")
case("phones-international", "phone", "Mobile,Training,Date\n+44 7911 123456,First Aid,2024-03-01\n+1 415 555 2671,First Aid,2024-03-01\n", ["2 pending", "3 ready"])
case("phones-mangled-by-spreadsheet", "phone", "Phone,Training,Date\n4.15555E+09,First Aid,2024-03-01\n12,First Aid,2024-03-01\n,First Aid,2024-03-01\n", ["2 error INVALID_PHONE", "3 error INVALID_PHONE", "4 error MISSING_VALUE"], default_country="US")
case("phones-without-country", "phone", "Phone,Training,Date\n4155552671,First Aid,2024-03-01\n", ["2 error INVALID_PHONE"])
# --- emails and names
case("emails-case-and-spaces", "email", E + "  ANA@Example.COM ,First Aid,2024-03-01\nana@@example.com,First Aid,2024-03-01\n,First Aid,2024-03-01\n", ["2 ready", "3 error INVALID_EMAIL", "4 error MISSING_VALUE"])
case("names-unicode-and-spaces", "name", "Full Name,Training,Date\n  ANA   LÓPEZ ,First Aid,2024-03-01\nana lopez,Forklift Safety,2024-03-01\n", ["2 pending", "3 ready"])
# --- trainings, duplicates
case("trainings-by-id-title-unknown-unpublished", "email", E + "ana@example.com,cpr-1,2024-03-01\nana@example.com,  first   aid ,2024-03-01\nana@example.com,Knitting,2024-03-01\nana@example.com,Fire Drill,2024-03-01\n", ["2 ready", "3 ready", "4 error UNKNOWN_TRAINING", "5 error TRAINING_NOT_PUBLISHED"])
case("duplicates-in-file-and-already-completed", "email", E + "ana@example.com,First Aid,2024-03-01\nANA@example.com,first aid,2024/03/01\nana@example.com,Forklift Safety,2024-01-15\n", ["2 ready", "3 skipped DUPLICATE_IN_FILE", "4 skipped ALREADY_COMPLETED"])
case("hris-unknown-and-roster", "hris", "Employee Number,Training,Date\nE100,First Aid,2024-03-01\nE200,First Aid,2024-03-01\nE999,First Aid,2024-03-01\n  ,First Aid,2024-03-01\n", ["2 pending", "3 ready", "4 error UNKNOWN_EMPLOYEE_ID", "5 error MISSING_VALUE"])
case("several-problems-on-one-row", "email", E + "not-an-email,Knitting,2030-01-01\n", ["2 error INVALID_EMAIL FUTURE_DATE UNKNOWN_TRAINING"])

# --- more names, emails, phones, trainings
case("names-last-comma-first", "name", '"Employee Name (Last, First)",Training,Date\n"Lopez, Ana",First Aid,2024-03-01\n"Muñoz, José",First Aid,2024-03-01\n', ["2 ready", "3 pending"])
case("emails-domain-typo-warning", "email", E + "newperson@gmial.com,First Aid,2024-03-01\n", ["2 pending EMAIL_DOMAIN_TYPO"])
case("phones-extension-and-lost-plus", "phone", "Phone,Training,Date\n415-555-2671 ext. 7,First Aid,2024-03-01\n447911123456,First Aid,2024-03-01\n", ["2 ready", "3 error INVALID_PHONE"], default_country="US")
case("trainings-near-miss", "email", E + "ana@example.com,Forklift Safty,2024-03-01\n", ["2 error UNKNOWN_TRAINING"])
case("already-pending-from-earlier-import", "email", E + "bo@example.com,First Aid,2023-06-01\nbo@example.com,First Aid,2023-06-02\n", ["2 skipped ALREADY_PENDING", "3 pending"])

for name, method, options, data, expect in cases:
    with open(os.path.join(HERE, name + ".csv"), "wb") as f:
        f.write(data)
    dates = options.pop("expect_dates", {})
    head = " ".join([f"method={method}"] + [f"{k}={v}" for k, v in sorted(options.items())])
    lines = [f"# {head}"] + expect + [f"date {line} {iso}" for line, iso in sorted(dates.items())]
    with open(os.path.join(HERE, name + ".expect"), "w") as f:
        f.write("\n".join(lines) + "\n")
print(f"{len(cases)} cases written")
