"""Deterministic resolved IT tickets with seeded personal data, for tests and the article demo.

``generate_resolved_tickets`` writes tickets about a catalogue of recurring helpdesk problems (each with
a canonical symptom, cause and ordered resolution steps) plus one-off "noise" tickets. Requesters write
paraphrased titles and descriptions; agents write resolution notes holding an in-order subset (≥ 60 %)
of the canonical steps, lightly paraphrased, with chatter. Names, e-mail addresses, phone numbers, IP and
MAC addresses, hostnames, serial numbers, asset tags, usernames, passwords and API tokens are seeded
into the text, and every seeded string is recorded in ``FixtureSet.seeded_pii`` (the scrubbing oracle).
"""

from __future__ import annotations

import math
import random
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.articles.types import TicketText

NOISE = "noise"
"""The label of one-off tickets that belong to no recurring problem."""

_ANCHOR = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
_SPREAD_MINUTES = 60 * 24 * 60
_DOMAIN = "northwind.example"
_NETBIOS = "NORTHWIND"


@dataclass(frozen=True)
class Problem:
    """A recurring helpdesk problem: what users see, why, and the canonical fix."""

    id: str
    category: str
    title: str
    symptom: str
    cause: str
    steps: tuple[str, ...]
    titles: tuple[str, ...]
    """Paraphrased ticket titles (requesters' words)."""
    symptoms: tuple[str, ...]
    """Paraphrased symptom descriptions."""
    details: tuple[str, ...] = ()
    """Context a requester may add (versions, error codes)."""


@dataclass(frozen=True)
class FixtureSet:
    """Generated tickets and the ground truth about them."""

    tickets: list[TicketText]
    labels: dict[int, str]
    """ticket_id → problem id, or ``"noise"``."""
    problems: dict[str, Problem]
    """The problems used, by id."""
    seeded_pii: dict[int, list[str]]
    """ticket_id → every personal or secret string seeded into that ticket's text."""
    steps_used: dict[int, tuple[int, ...]]
    """ticket_id → indexes of the canonical steps its resolution contains, in order (empty for noise)."""


CATALOGUE: tuple[Problem, ...] = (
    Problem(
        id="outlook-password-prompt",
        category="Email",
        title="Outlook keeps prompting for password",
        symptom="Outlook repeatedly shows a credential prompt and stays disconnected from the mailbox.",
        cause="Stale cached credentials in Windows Credential Manager break the modern authentication token.",
        steps=(
            "Close Outlook and every other Office application.",
            "Open Credential Manager and remove the Windows credentials whose names start with "
            "MicrosoftOffice16.",
            "Sign out of the Office account under File > Office Account and back in.",
            "Restart Outlook, completing the modern authentication prompt including MFA.",
        ),
        titles=(
            "Outlook keeps prompting for password",
            "Outlook asking for my password over and over",
            "Password popup in Outlook won't go away",
            "Outlook credential prompt every few minutes",
            "Outlook disconnected, keeps asking to sign in",
        ),
        symptoms=(
            "Outlook keeps asking for my password again and again, even though I type the right one.",
            "Since this morning a Windows Security credential window pops up in Outlook every few minutes "
            "and mail stops syncing.",
            "Outlook shows 'Need password' in the status bar and the sign-in prompt comes back every time "
            "I enter my password.",
            "I changed my password yesterday and now Outlook constantly prompts for credentials and says "
            "Disconnected.",
        ),
        details=(
            "I'm on Windows 11 with Microsoft 365 Apps.",
            "Once I saw error AADSTS50076 flash up.",
            "Outlook on the web works fine.",
        ),
    ),
    Problem(
        id="vpn-hotel-wifi",
        category="Network",
        title="VPN drops on hotel Wi-Fi",
        symptom="GlobalProtect connects on hotel or guest Wi-Fi and then drops every few minutes.",
        cause="Captive portals and a small path MTU on guest networks break the IPsec tunnel.",
        steps=(
            "Complete the hotel captive portal sign-in in a browser before starting the VPN.",
            "Switch the GlobalProtect connection protocol from IPsec to SSL in the app settings.",
            "Lower the Wi-Fi adapter MTU to 1400 with netsh interface ipv4 set subinterface.",
            "Reconnect GlobalProtect, confirming the tunnel stays up for ten minutes.",
        ),
        titles=(
            "VPN drops on hotel Wi-Fi",
            "GlobalProtect keeps disconnecting while travelling",
            "VPN disconnects every few minutes at the hotel",
            "Can't stay connected to VPN on guest wifi",
            "Remote access VPN unstable on hotel network",
        ),
        symptoms=(
            "I'm travelling and the VPN connects for a minute or two on the hotel Wi-Fi, then drops.",
            "GlobalProtect says Connected, then disconnects and reconnects in a loop on the hotel network.",
            "On guest wifi the VPN keeps falling over, so Teams calls and file shares cut out.",
            "At the hotel the VPN tunnel drops every five minutes; at home it is fine.",
        ),
        details=(
            "GlobalProtect 6.2.1 on Windows 11.",
            "Phone hotspot works without drops.",
            "The hotel makes you accept terms on a web page first.",
        ),
    ),
    Problem(
        id="teams-mic-not-detected",
        category="Collaboration",
        title="Teams does not detect the microphone",
        symptom="Teams shows no microphone or others cannot hear the user, although the headset works.",
        cause="A Windows feature update reset the privacy setting that lets desktop apps use the microphone.",
        steps=(
            "Open Windows Settings > Privacy & security > Microphone.",
            "Turn on Microphone access and Let desktop apps access your microphone.",
            "Select the headset as the microphone in Teams under Settings > Devices.",
            "Make a test call in Teams to confirm the audio works.",
            "Update the headset firmware with the vendor tool if the microphone is still missing.",
        ),
        titles=(
            "Teams mic not detected",
            "Nobody can hear me in Teams",
            "Microphone not showing in Teams devices",
            "Teams says no microphone found",
            "Headset mic not working in Teams calls",
        ),
        symptoms=(
            "In Teams meetings nobody can hear me; the mic icon shows no microphone detected.",
            "Teams says it can't find a microphone, but my headset works for music.",
            "The microphone list in Teams devices is empty since the Windows update.",
            "People in calls say I'm silent and the test call records nothing.",
        ),
        details=(
            "Headset is a Jabra Evolve2 65.",
            "Laptop runs Windows 11 23H2.",
            "The built-in mic doesn't show either.",
        ),
    ),
    Problem(
        id="print-queue-stuck",
        category="Printing",
        title="Print queue stuck",
        symptom="Print jobs sit in the queue with status Error or Printing and nothing comes out.",
        cause="A corrupt spooled job blocks the Print Spooler service on the client.",
        steps=(
            "Stop the Print Spooler service from services.msc.",
            "Delete the files in C:\\Windows\\System32\\spool\\PRINTERS.",
            "Start the Print Spooler service again.",
            "Re-add the printer from the print server after removing it.",
            "Print a test page to confirm the queue is moving.",
        ),
        titles=(
            "Printer queue stuck",
            "Print jobs stuck in queue, nothing printing",
            "Can't print - documents stuck on Printing",
            "Print queue won't clear",
            "Printer shows error and jobs pile up",
        ),
        symptoms=(
            "My documents are stuck in the print queue and I can't delete them.",
            "Everything I send to the floor printer just sits in the queue with status Error.",
            "The printer queue shows five jobs stuck on Printing and nothing comes out.",
            "Can't cancel the jobs in the queue and new prints get stuck behind them.",
        ),
        details=(
            "Printer is the HP LaserJet M507 near the kitchen.",
            "It started after KB5005565 installed.",
            "Got 0x00000709 when I tried to set it as default.",
        ),
    ),
    Problem(
        id="onedrive-sync-stuck",
        category="Storage",
        title="OneDrive sync stuck",
        symptom="OneDrive shows Processing changes or Sync pending for hours and files do not upload.",
        cause="Files with invalid names or over-long paths stall the sync, and the local cache gets stuck.",
        steps=(
            "Open the OneDrive activity center and review the files with sync errors.",
            "Rename files with invalid characters and shorten paths longer than 400 characters.",
            "Reset OneDrive by running onedrive.exe /reset from the Run dialog.",
            "Start OneDrive again, waiting for the initial sync to complete.",
        ),
        titles=(
            "OneDrive sync stuck",
            "OneDrive stuck on processing changes",
            "Files not syncing to OneDrive",
            "OneDrive sync pending for hours",
            "OneDrive won't upload my files",
        ),
        symptoms=(
            "OneDrive has been on 'Processing changes' since yesterday and nothing uploads.",
            "My OneDrive icon shows sync pending all day and colleagues don't see my updated files.",
            "OneDrive is stuck; the blue arrows spin forever and the files never sync.",
            "Files I save to OneDrive stay with the sync pending icon and never reach the cloud.",
        ),
        details=(
            "I get 0x80070005 in the OneDrive error list for one folder.",
            "About 12,000 files in the Documents folder.",
            "Windows 11, OneDrive client from the Store.",
        ),
    ),
    Problem(
        id="bitlocker-recovery-prompt",
        category="Endpoint security",
        title="BitLocker recovery key prompt at startup",
        symptom="The laptop boots to a blue BitLocker recovery screen asking for the 48-digit key.",
        cause="A firmware or BIOS update changed the TPM measurements BitLocker checks at boot.",
        steps=(
            "Verify the requester's identity with a callback to the number in the HR directory.",
            "Look up the BitLocker recovery key in Intune by the key ID shown on the recovery screen.",
            "Have the user type the recovery key to unlock the drive.",
            "Suspend BitLocker for one reboot with manage-bde -protectors -disable C: -RebootCount 1.",
            "Install the pending BIOS update with a reboot.",
            "Confirm that BitLocker protection resumed with manage-bde -status.",
        ),
        titles=(
            "BitLocker recovery key prompt",
            "Laptop asking for BitLocker recovery key",
            "Blue screen wants a recovery key at boot",
            "Locked out by BitLocker after update",
            "BitLocker recovery screen on startup",
        ),
        symptoms=(
            "When I turned on my laptop it asked for a BitLocker recovery key I don't have.",
            "After last night's update the laptop boots to a blue screen asking for a 48-digit recovery key.",
            "My laptop shows 'Enter the recovery key to get going again' and won't start Windows.",
            "BitLocker recovery screen every time I start up; it shows a key ID.",
        ),
        details=(
            "A Dell BIOS update ran on Friday.",
            "It's a Windows 11 laptop.",
            "I haven't changed anything myself.",
        ),
    ),
    Problem(
        id="excel-sharepoint-crash",
        category="Office apps",
        title="Excel crashes opening workbooks from SharePoint",
        symptom="Excel closes or stops responding when a .xlsx file is opened from SharePoint or Teams.",
        cause="A corrupted Office document cache combined with an outdated COM add-in.",
        steps=(
            "Start Excel in safe mode with excel /safe to confirm an add-in is involved.",
            "Disable the COM add-ins one at a time under File > Options > Add-ins.",
            "Clear the Office document cache in %LOCALAPPDATA%\\Microsoft\\Office\\16.0\\OfficeFileCache.",
            "Update Microsoft 365 Apps to the latest build with Update Now.",
            "Open the workbook from SharePoint again.",
        ),
        titles=(
            "Excel crashes opening xlsx from SharePoint",
            "Excel closes when I open a file from Teams",
            "Excel not responding on SharePoint workbooks",
            "Excel crash when opening shared spreadsheet",
            "Can't open xlsx from SharePoint, Excel dies",
        ),
        symptoms=(
            "Excel crashes straight away whenever I open an xlsx from our SharePoint site.",
            "Opening any spreadsheet from the Teams Files tab makes Excel freeze and close.",
            "Excel goes 'Not responding' and restarts when I open workbooks stored in SharePoint.",
            "Local Excel files open fine but anything from SharePoint crashes Excel.",
        ),
        details=(
            "Faulting module is mso20win32client.dll according to the error.",
            "Microsoft 365 Apps on Windows 11.",
            "It works in Excel for the web.",
        ),
    ),
    Problem(
        id="mfa-new-phone",
        category="Identity",
        title="MFA prompts fail after getting a new phone",
        symptom="Sign-ins ask for approval on the old phone, so the user cannot complete MFA.",
        cause="The Microsoft Authenticator registration is still bound to the old device.",
        steps=(
            "Verify the requester's identity with a video call and badge check.",
            "Revoke MFA sessions and delete the old Authenticator method in the Entra admin center.",
            "Issue a Temporary Access Pass for the requester.",
            "Have the user register Microsoft Authenticator on the new phone at aka.ms/mysecurityinfo.",
            "Test a sign-in to confirm the push notification arrives.",
        ),
        titles=(
            "MFA not working on new phone",
            "Authenticator codes go to my old phone",
            "Can't approve sign-in after phone upgrade",
            "New phone, can't do multi-factor",
            "Locked out by MFA after changing mobile",
        ),
        symptoms=(
            "I got a new phone and now I can't approve the sign-in requests; they go to the old one.",
            "After switching phones the Authenticator app has no account and I can't log in to Office.",
            "Sign-in keeps asking me to approve on my old phone which I already traded in.",
            "I can't get past MFA since I changed my mobile.",
        ),
        details=(
            "The error says AADSTS50076.",
            "Old phone was wiped.",
            "Same phone number as before.",
        ),
    ),
    Problem(
        id="account-lockout",
        category="Identity",
        title="Account locked out repeatedly",
        symptom="The user's AD account locks minutes after being unlocked.",
        cause="A device still uses the old password (usually a phone mail profile) and fails sign-in.",
        steps=(
            "Unlock the account in Active Directory Users and Computers.",
            "Find the lockout source in event 4740 on the PDC emulator domain controller.",
            "Re-add the mail account on the phone with the new password after removing the stale one.",
            "Clear saved credentials for the old password in Credential Manager.",
            "Monitor the account for an hour to confirm it stays unlocked.",
        ),
        titles=(
            "Account keeps locking out",
            "Locked out again after password change",
            "AD account locks every few minutes",
            "Repeated account lockouts",
            "Can't log in, account locked again",
        ),
        symptoms=(
            "My account keeps getting locked every half hour since I changed my password.",
            "You unlocked me this morning but I'm locked out again already.",
            "Windows says the referenced account is currently locked out, again.",
            "Since the password change my account locks out several times a day.",
        ),
        details=(
            "I also read mail on my phone.",
            "Changed my password on Monday.",
            "Windows 11 laptop and an Android phone.",
        ),
    ),
    Problem(
        id="wifi-certificate",
        category="Network",
        title="Corporate Wi-Fi rejects the laptop",
        symptom="The laptop cannot join the corporate 802.1X Wi-Fi and shows Can't connect to this network.",
        cause="The device's Wi-Fi certificate from Intune (SCEP) expired and was not renewed.",
        steps=(
            "Check the device certificate expiry date in certlm.msc under Personal > Certificates.",
            "Sync the device from Company Portal to request a new certificate.",
            "Forget the corporate Wi-Fi network before connecting again.",
            "Confirm network access with a ping to the intranet gateway.",
        ),
        titles=(
            "Can't connect to office Wi-Fi",
            "Corporate wifi says can't connect",
            "Laptop won't join NW-Corp wireless",
            "Wi-Fi authentication fails in the office",
            "Office wifi rejected, other networks fine",
        ),
        symptoms=(
            "In the office my laptop can't join the corporate Wi-Fi: Can't connect to this network.",
            "The office wifi keeps asking me to try again and never connects, but my phone connects.",
            "Corporate Wi-Fi fails authentication on my laptop since Monday; guest wifi works.",
            "I can see the office wifi but joining fails every time.",
        ),
        details=(
            "Windows 11 laptop.",
            "Ethernet in the meeting room works.",
            "It worked last week.",
        ),
    ),
    Problem(
        id="windows-update-fails",
        category="Endpoint",
        title="Windows Update fails to install",
        symptom="A cumulative update downloads, fails to install and rolls back at restart.",
        cause="A corrupted SoftwareDistribution folder and component store.",
        steps=(
            "Run the Windows Update troubleshooter from Settings.",
            "Rename the SoftwareDistribution folder after stopping the wuauserv and bits services.",
            "Run DISM /Online /Cleanup-Image /RestoreHealth followed by sfc /scannow.",
            "Install the update from Windows Update after starting the services again.",
        ),
        titles=(
            "Windows update keeps failing",
            "Update won't install, rolls back on restart",
            "Cumulative update failed again",
            "Windows Update error every night",
            "Laptop stuck undoing changes after update",
        ),
        symptoms=(
            "Windows Update downloads the same update every day and fails to install it.",
            "Every restart says 'We couldn't complete the updates, undoing changes'.",
            "The update fails with an error and my laptop is flagged as non-compliant.",
            "Update history shows the cumulative update failed several times.",
        ),
        details=(
            "Update history shows KB5005565 failed with 0x80070005.",
            "Windows 11 Enterprise.",
            "Compliance email says I must update within 3 days.",
        ),
    ),
    Problem(
        id="shared-mailbox-missing",
        category="Email",
        title="Shared mailbox not showing in Outlook",
        symptom="A shared mailbox the user was granted does not appear in the Outlook folder pane.",
        cause="Full Access was granted without automapping, or Outlook has not refreshed Autodiscover.",
        steps=(
            "Confirm the Full Access permission in the Exchange admin center.",
            "Re-grant the permission with AutoMapping enabled after removing it.",
            "Restart Outlook, allowing up to an hour for Autodiscover to refresh.",
            "Add the mailbox under File > Account Settings > More Settings if it still does not appear.",
        ),
        titles=(
            "Shared mailbox not showing in Outlook",
            "Can't see the team mailbox in Outlook",
            "Shared inbox missing from folder list",
            "Access to shared mailbox granted but not visible",
            "Outlook doesn't show shared mailbox",
        ),
        symptoms=(
            "I was given access to the shared mailbox but it doesn't show in Outlook.",
            "The team inbox isn't in my folder list even though my manager says I have access.",
            "The shared mailbox doesn't appear in Outlook on my laptop.",
            "Outlook doesn't list the shared mailbox I requested last week.",
        ),
        details=(
            "The mailbox is accounts-payable@northwind.example.",
            "Outlook on Windows 11.",
            "I can open it in Outlook on the web.",
        ),
    ),
    Problem(
        id="dock-monitors",
        category="Hardware",
        title="External monitors not detected on the docking station",
        symptom="Monitors connected through the USB-C dock stay black or are not listed in Display settings.",
        cause="Outdated dock firmware and display driver after a Windows update.",
        steps=(
            "Update the docking station firmware with the vendor update utility.",
            "Install the latest Intel graphics driver from the company portal.",
            "Reseat the USB-C cable in the Thunderbolt port.",
            "Press Windows+P, choosing Extend.",
        ),
        titles=(
            "External monitors not detected on dock",
            "Second screen black when docked",
            "Dock monitors not working",
            "No display on monitors through docking station",
            "Laptop doesn't see monitors on the dock",
        ),
        symptoms=(
            "When I plug my laptop into the dock the two external monitors stay black.",
            "My monitors are not detected through the docking station, only the laptop screen works.",
            "Display settings shows only one screen when I'm docked.",
            "The dock charges the laptop but the monitors say no signal.",
        ),
        details=(
            "Dock is a Dell WD19TBS.",
            "Started after the Windows update.",
            "Monitors work with a direct HDMI cable.",
        ),
    ),
    Problem(
        id="mapped-drive-credentials",
        category="Storage",
        title="Mapped network drive disconnected after password change",
        symptom="Mapped drives show a red X and ask for credentials after the user changed the password.",
        cause="Windows reuses old credentials saved for the file server.",
        steps=(
            "Open Credential Manager and remove the saved entries for the file server.",
            "Disconnect the mapped drive with net use S: /delete.",
            "Sign out of Windows and back in so it picks up the new password.",
            "Remap the drive from File Explorer.",
        ),
        titles=(
            "Network drive disconnected",
            "S: drive shows red X",
            "Can't open shared drive after password change",
            "Mapped drive asks for password",
            "Lost access to department share",
        ),
        symptoms=(
            "My S: drive has a red X and asks for a password that it then rejects.",
            "Since I changed my password I can't open the shared drive.",
            "The mapped department drive is disconnected and won't reconnect.",
            "File Explorer says the network path could not be found for my mapped drive.",
        ),
        details=(
            "On VPN from home.",
            "Windows 11 laptop.",
            "Other shares work.",
        ),
    ),
)

_NOISE_TICKETS: tuple[tuple[str, str, str, str], ...] = (
    (
        "Hardware request",
        "Request for a second monitor",
        "Could I get a second 27-inch monitor for my desk on the third floor?",
        "Monitor ordered and delivered; set up on the desk.",
    ),
    (
        "Access",
        "Add me to the Finance-All distribution list",
        "Please add me to the Finance-All distribution list, I joined the team this week.",
        "Added to the distribution list in Exchange admin center.",
    ),
    (
        "Software request",
        "Install Visio",
        "I need Visio for process diagrams, can it be installed?",
        "Assigned a Visio licence and deployed it from Company Portal.",
    ),
    (
        "Facilities",
        "Desk phone needs moving",
        "I moved desks to 4B; can my desk phone extension follow me?",
        "Extension re-patched to the new desk port.",
    ),
    (
        "Hardware",
        "Laptop battery swelling",
        "The laptop battery is bulging and the touchpad doesn't click any more.",
        "Swapped the laptop; old unit sent for battery replacement under warranty.",
    ),
    (
        "Access",
        "Need access to the Marketing SharePoint site",
        "Please give me edit access to the Marketing SharePoint site for the campaign.",
        "Added to the Marketing Members group after owner approval.",
    ),
    (
        "Email",
        "Set up out-of-office for a leaver",
        "A colleague left on Friday; can we set an automatic reply on their mailbox?",
        "Converted the mailbox to shared and set the automatic reply.",
    ),
    (
        "Hardware",
        "Keyboard missing keys",
        "Two keys came off my keyboard, can I get a new one?",
        "Replacement keyboard delivered.",
    ),
    (
        "Software request",
        "Request Adobe Acrobat Pro licence",
        "I need to edit PDFs for contracts; please assign Acrobat Pro.",
        "Acrobat Pro licence assigned; user signed in to activate.",
    ),
    (
        "Facilities",
        "Meeting room screen not turning on",
        "The big screen in meeting room Orion doesn't turn on at all.",
        "Power strip behind the screen was off; switched on and tested.",
    ),
    (
        "Accounts",
        "New starter account for Monday",
        "We have a new analyst starting on Monday; please create accounts and a laptop.",
        "Account created from the HR feed, laptop imaged and handed over.",
    ),
    (
        "Hardware",
        "Headset request",
        "My headset cable broke; can I have a wireless one?",
        "Issued a new headset from stock.",
    ),
    (
        "Software",
        "Slack notifications not arriving on Mac",
        "Slack on my Mac no longer shows notifications.",
        "Notifications were disabled in macOS Focus mode; turned them back on.",
    ),
    (
        "Access",
        "Reset my voicemail PIN",
        "I forgot my voicemail PIN for the desk phone.",
        "Voicemail PIN reset from the phone system portal.",
    ),
    (
        "Hardware",
        "Mouse scroll wheel broken",
        "The scroll wheel on my mouse jumps around.",
        "Replaced the mouse.",
    ),
    (
        "Email",
        "Recover a deleted e-mail folder",
        "I deleted a folder called Contracts 2025 by mistake, can it come back?",
        "Restored the folder from Recoverable Items.",
    ),
)

_REQUESTERS: tuple[str, ...] = (
    "María González",
    "Oluwaseun Adeyemi",
    "Priya Raghunathan",
    "Kenji Watanabe",
    "Fatima Al-Sayed",
    "Seán O'Brien",
    "Anne-Marie Dubois",
    "Zoë Lindqvist",
    "Mateusz Kowalczyk",
    "Thandiwe Nkosi",
    "Hamid Rahimi",
    "Wei Zhang",
    "Daniel Ng",
    "Carlos Mendoza",
    "Yuki Tanaka",
    "Amara Okafor",
    "Dmitri Volkov",
    "Leila Haddad",
    "Tomás Herrera",
    "Sofia Rossi",
    "Jamal Washington",
    "Hannah Schmidt",
    "Rafael Souza",
    "Aroha Ngata",
    "Elif Yılmaz",
    "Björn Eriksson",
    "Chloé Martin",
    "Noah Goldberg",
    "Sipho Dlamini",
    "Aiyana Begay",
)
_AGENTS: tuple[str, ...] = (
    "Tom Becker",
    "Anna Kowalski",
    "Priyanka Shah",
    "Diego Alvarez",
    "Grace Liu",
    "Omar Farouk",
    "Lena Fischer",
    "Marcus Reid",
)
_THIRD_PARTIES: tuple[str, ...] = (
    "Kofi Boateng",
    "Astrid Nielsen",
    "Rahul Verma",
    "Beatriz Costa",
    "Liam O'Connor",
    "Nadia Petrova",
    "Camille Laurent",
    "Ingrid Johansson",
)
_DEPARTMENTS = ("FIN", "HR", "MKT", "ENG", "OPS", "LEG", "SAL")
_PHONE_FORMATS: tuple[Callable[[random.Random], str], ...] = (
    lambda r: f"+1 ({r.randint(201, 989)}) 555-{r.randint(100, 199):04d}",
    lambda r: f"{r.randint(201, 989)}-555-{r.randint(100, 199):04d}",
    lambda r: f"({r.randint(201, 989)}) 555 {r.randint(100, 199):04d}",
    lambda r: f"+44 20 7946 {r.randint(0, 999):04d}",
    lambda r: f"+49 30 {r.randint(100000, 999999)}",
    lambda r: f"+91 98{r.randint(100, 999)} {r.randint(10000, 99999)}",
    lambda r: f"+33 1 {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)}",
    lambda r: f"020 7946 {r.randint(0, 999):04d}",
    lambda r: f"07700 900{r.randint(100, 999)}",
    lambda r: f"555.{r.randint(100, 999)}.{r.randint(1000, 9999)}",
)
_PASSWORD_WORDS = ("Welcome", "Summer", "Winter", "Spring", "Harbor", "Maple", "Orbit", "Falcon")
_PAST: dict[str, str] = {
    "have": "had",
    "make": "made",
    "set": "set",
    "run": "ran",
    "reset": "reset",
    "stop": "stopped",
    "find": "found",
    "forget": "forgot",
    "remap": "remapped",
}


def _fold(text: str) -> str:
    """ASCII form of a name, as people type it in e-mail addresses and usernames."""
    text = text.replace("ı", "i").replace("ø", "o").replace("ß", "ss")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


@dataclass(frozen=True)
class _Person:
    full: str

    @property
    def first(self) -> str:
        return self.full.split()[0]

    @property
    def last(self) -> str:
        return self.full.split()[-1]

    def email(self) -> str:
        local = f"{self.first}.{self.last}".replace("'", "").replace("-", "").lower()
        return f"{_fold(local)}@{_DOMAIN}"

    def username(self) -> str:
        return _fold(f"{self.first[0]}{self.last}".replace("'", "").replace("-", "").lower())


class _Writer:
    """Builds one ticket's text and records every personal string it seeds."""

    def __init__(self, rng: random.Random, requester: _Person, agent: _Person) -> None:
        self.rng = rng
        self.requester = requester
        self.agent = agent
        self.pii: list[str] = []

    def seed(self, value: str) -> str:
        if value not in self.pii:
            self.pii.append(value)
        return value

    # --- personal data generators -------------------------------------------------------------------
    def phone(self) -> str:
        return self.seed(self.rng.choice(_PHONE_FORMATS)(self.rng))

    def ip(self) -> str:
        r = self.rng
        prefix = r.choice(("10.{}.{}", "172.16.{}", "192.168.{}"))
        octets = [str(r.randint(0, 254)) for _ in range(prefix.count("{}"))]
        return self.seed(f"{prefix.format(*octets)}.{r.randint(2, 254)}")

    def mac(self) -> str:
        r = self.rng
        octets = [f"{r.randint(0, 255):02x}" for _ in range(6)]
        style = r.randrange(3)
        if style == 0:
            return self.seed(":".join(octets))
        if style == 1:
            return self.seed("-".join(octets).upper())
        joined = "".join(octets)
        return self.seed(f"{joined[0:4]}.{joined[4:8]}.{joined[8:12]}")

    def host(self) -> str:
        r = self.rng
        dept = r.choice(_DEPARTMENTS)
        style = r.randrange(4)
        if style == 0:
            return self.seed(f"{r.choice(('LT', 'DT', 'WS'))}-{dept}-{r.randint(1, 9999):04d}")
        if style == 1:
            return self.seed(f"wks-{r.randint(1, 9999):04d}.corp.{_DOMAIN}")
        if style == 2:
            return self.seed(f"lt-{dept.lower()}-{r.randint(1, 999):03d}")
        return self.seed(
            f"{r.choice(('srv', 'SRV'))}-{r.choice(('print', 'fs', 'app'))}{r.randint(1, 9):02d}"
        )

    def file_server(self) -> str:
        return self.seed(f"fs{self.rng.randint(1, 9):02d}.corp.{_DOMAIN}")

    def serial(self) -> tuple[str, str]:
        """A serial number and the label it is written with."""
        r = self.rng
        letters, alnum = string.ascii_uppercase, string.ascii_uppercase + string.digits
        shape = r.randrange(4)
        if shape == 0:  # HP-style: 5CG1234XYZ
            value = f"{r.randint(1, 9)}{''.join(r.choices(letters, k=2))}{r.randint(1000, 9999)}"
            value += "".join(r.choices(letters, k=3))
        elif shape == 1:  # Apple-style: C02XK0ABJGH5
            value = f"C02{''.join(r.choices(letters, k=2))}{r.randint(0, 9)}"
            value += f"{''.join(r.choices(alnum, k=5))}{r.randint(0, 9)}"
        elif shape == 2:  # Dell service tag: 7XK2QH3
            value = f"{r.randint(1, 9)}{''.join(r.choices(letters, k=2))}{r.randint(0, 9)}"
            value += f"{''.join(r.choices(letters, k=2))}{r.randint(0, 9)}"
        else:  # Lenovo-style: PF3AB12C
            value = f"PF{r.randint(1, 9)}{''.join(r.choices(alnum, k=5))}"
        label = "service tag" if shape == 2 else r.choice(("serial", "S/N", "SN:", "serial number"))
        if shape in (0, 1) and r.random() < 0.3:
            label = ""  # vendor shape without a label
        return label, self.seed(value)

    def asset(self) -> str:
        r = self.rng
        return self.seed(r.choice((f"NW-{r.randint(1, 99999):06d}", f"AT-{r.randint(10000, 99999)}")))

    def password(self) -> str:
        r = self.rng
        value = f"{r.choice(_PASSWORD_WORDS)}{r.randint(10, 999)}{r.choice('!#$?')}"
        if r.random() < 0.3:
            value = "".join(r.choices(string.ascii_letters + string.digits, k=10)) + r.choice("!#")
        return self.seed(value)

    def token(self) -> tuple[str, str]:
        """An API token and what it is for."""
        r = self.rng
        alnum = string.ascii_letters + string.digits
        kind = r.randrange(5)
        if kind == 0:
            value = f"xoxb-{r.randint(10**11, 10**12)}-{''.join(r.choices(alnum, k=24))}"
            return "Slack bot token", self.seed(value)
        if kind == 1:
            return "GitHub token", self.seed(f"ghp_{''.join(r.choices(alnum, k=36))}")
        if kind == 2:
            return "AWS access key", self.seed(f"AKIA{''.join(r.choices(string.ascii_uppercase, k=16))}")
        if kind == 3:
            return "API key", self.seed(f"sk-{''.join(r.choices(alnum, k=32))}")
        return "api_key", self.seed("".join(r.choices("0123456789abcdef", k=32)))

    def name(self, person: _Person, form: str = "full") -> str:
        value = {"full": person.full, "first": person.first}[form]
        if form == "full" and self.rng.random() < 0.15 and _fold(value) != value:
            value = _fold(value)  # typed without accents
        return self.seed(value)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _past_tense(step: str) -> str:
    """ "Open X" → "opened X" (light paraphrase for narrative resolution notes)."""
    verb, _, rest = step.partition(" ")
    lower = verb.lower()
    if lower in _PAST:
        past = _PAST[lower]
    elif lower.endswith("e"):
        past = lower + "d"
    elif lower.endswith("y") and lower[-2:-1] not in "aeiou":
        past = lower[:-1] + "ied"
    else:
        past = lower + "ed"
    return f"{past} {rest}".rstrip(".")


def _description(w: _Writer, problem: Problem | None, symptom: str) -> str:
    r = w.rng
    parts: list[str] = [symptom]
    if problem is not None and problem.details and r.random() < 0.7:
        parts.append(r.choice(problem.details))
    snippets: list[Callable[[], str]] = [
        lambda: f"My laptop is {w.host()}.",
        lambda: f"Asset tag {w.asset()} if you need it.",
        lambda: f"ipconfig shows {w.ip()}.",
        lambda: f"Wi-Fi MAC address is {w.mac()}.",
        lambda: f"My colleague {w.name(_Person(r.choice(_THIRD_PARTIES)))} has the same problem.",
        lambda: f"You can also reach me at {w.seed(_fold(w.requester.username()) + '84@gmail.com')}.",
        lambda: f"My login is {w.seed(_NETBIOS + chr(92) + w.requester.username())}.",
        lambda: "The sticker on the bottom says {} {}.".format(*w.serial()).replace("  ", " "),
        lambda: f"Best number to reach me: {w.phone()}.",
    ]
    for snippet in r.sample(snippets, k=r.randint(1, 3)):
        parts.append(snippet())
    greeting = r.choice(("Hi team,\n\n", "Hello IT,\n\n", "Hi,\n\n", ""))
    first = w.requester.first
    sign_offs: tuple[Callable[[], str], ...] = (
        lambda: f"Thanks,\n{w.name(w.requester, 'first')}",
        lambda: f"— {w.name(w.requester)}",
        lambda: f"Regards,\n{w.name(w.requester)}\n{w.seed(w.requester.email())} | {w.phone()}",
        lambda: f"Cheers {w.seed(first)}",
        lambda: "Sent from my iPhone",
    )
    return f"{greeting}{' '.join(parts)}\n\n{r.choice(sign_offs)()}"


def _steps_text(w: _Writer, problem: Problem, used: tuple[int, ...]) -> str:
    r = w.rng
    steps = [problem.steps[i] for i in used]
    if r.random() < 0.3 and any("the user" in s or "the requester's" in s for s in steps):
        who = w.name(w.requester, "first")  # the agent names the requester instead of "the user"
        steps = [s.replace("the user", who).replace("the requester's", f"{who}'s") for s in steps]
    style = r.randrange(3)
    if style == 0:
        return "Steps taken:\n" + "\n".join(f"{n}. {s}" for n, s in enumerate(steps, start=1))
    if style == 1:
        return "\n".join(f"- {s[0].lower()}{s[1:].rstrip('.')}" for s in steps)
    joined = ", then ".join(_past_tense(s) for s in steps)
    return _sentence(joined[0].upper() + joined[1:])


def _resolution(w: _Writer, problem: Problem | None, used: tuple[int, ...], noise_fix: str) -> str:
    r = w.rng
    lines: list[str] = []
    if r.random() < 0.5:
        lines.append(f"Hi {w.name(w.requester, 'first')},")
    context: list[Callable[[], str]] = [
        lambda: f"Remoted into {w.host()} ({w.ip()}).",
        lambda: "Device {}: {} {}.".format(w.host(), *w.serial()).replace(":  ", ": "),
        lambda: f"Found the laptop on switch port Gi1/0/24 by its MAC {w.mac()}.",
        lambda: f"Reset the AD password, temp password {w.password()} (change at next logon).",
        lambda: f"Temporary password is {w.password()} - please change it today.",
        lambda: "{} had pasted their {} in the chat ({}); revoked it and issued a new one.".format(
            w.name(w.requester, "first"), *w.token()
        ),
        lambda: f"Spoke with {w.name(_Person(r.choice(_THIRD_PARTIES)), 'first')} from Networking.",
        lambda: f"Called {w.name(w.requester, 'first')} back on {w.phone()}.",
        lambda: f"Asset tag {w.asset()} checked in the CMDB.",
        lambda: f"Account {w.seed(_NETBIOS + chr(92) + w.requester.username())} unlocked.",
        lambda: f"Remapped S: to \\\\{w.file_server()}\\Shared.",
        lambda: f"{w.name(w.requester, 'first')}'s laptop is {w.host()}.",
    ]
    lines.extend(snippet() for snippet in r.sample(context, k=r.randint(1, 3)))
    if problem is not None and problem.id == "bitlocker-recovery-prompt" and r.random() < 0.5:
        key = "-".join(f"{r.randint(0, 999999):06d}" for _ in range(8))
        lines.append(f"Read out recovery key {w.seed(key)} over the phone.")
    lines.append(_steps_text(w, problem, used) if problem is not None else noise_fix)
    chatter: tuple[Callable[[], str], ...] = (
        lambda: f"Thanks {w.name(w.requester, 'first')}, closing.",
        lambda: f"{w.name(w.requester, 'first')} confirmed it works now. Closing.",
        lambda: f"User confirmed fixed, closing per {w.name(w.requester)}.",
        lambda: "Confirmed working with the user; closing.",
    )
    lines.append(r.choice(chatter)())
    agent_sign: tuple[Callable[[], str], ...] = (
        lambda: f"— {w.name(w.agent, 'first')}",
        lambda: f"Regards,\n{w.name(w.agent)}\nIT Service Desk",
        lambda: f"Thanks, {w.name(w.agent, 'first')}",
        lambda: "",
    )
    lines.append(r.choice(agent_sign)())
    return "\n".join(line for line in lines if line)


def _title(w: _Writer, base: str) -> str:
    r = w.rng
    roll = r.random()
    if roll < 0.15:
        return f"{w.host()}: {base}"
    if roll < 0.25:
        return f"{base} ({w.name(w.requester)})"
    if roll < 0.3:
        return f"URGENT: {base}"
    return base


def generate_resolved_tickets(
    *, seed: int = 7, problems: int = 12, tickets_per_problem: tuple[int, int] = (3, 8), noise: int = 10
) -> FixtureSet:
    """Tickets about ``problems`` recurring problems plus ``noise`` one-offs; the same seed, the same set.

    There are 16 one-off topics: with ``noise`` above 16 they repeat (with other people and PII).
    """
    if not 1 <= problems <= len(CATALOGUE):
        raise ValueError(f"problems must be between 1 and {len(CATALOGUE)}")
    low, high = tickets_per_problem
    if not 1 <= low <= high:
        raise ValueError("tickets_per_problem must be (low, high) with 1 <= low <= high")
    if noise < 0:
        raise ValueError("noise must not be negative")
    rng = random.Random(seed)
    chosen = rng.sample(CATALOGUE, k=problems)
    plan: list[Problem | None] = []
    for problem in chosen:
        plan.extend([problem] * rng.randint(low, high))
    plan.extend([None] * noise)
    rng.shuffle(plan)

    tickets: list[TicketText] = []
    labels: dict[int, str] = {}
    seeded: dict[int, list[str]] = {}
    steps_used: dict[int, tuple[int, ...]] = {}
    keys = rng.sample(range(10000, 100000), k=len(plan))
    noise_order = rng.sample(range(len(_NOISE_TICKETS)), k=len(_NOISE_TICKETS))
    noise_seen = 0
    for ticket_id, (planned, key) in enumerate(zip(plan, keys, strict=True), start=1):
        w = _Writer(rng, _Person(rng.choice(_REQUESTERS)), _Person(rng.choice(_AGENTS)))
        used: tuple[int, ...] = ()
        if planned is None:
            category, base_title, symptom, fix = _NOISE_TICKETS[noise_order[noise_seen % len(noise_order)]]
            noise_seen += 1
            label = NOISE
        else:
            count = len(planned.steps)
            keep = rng.randint(math.ceil(0.6 * count), count)
            used = tuple(sorted(rng.sample(range(count), k=keep)))
            category, base_title, symptom, fix = (
                planned.category,
                rng.choice(planned.titles),
                rng.choice(planned.symptoms),
                "",
            )
            label = planned.id
        title = _title(w, base_title)
        description = _description(w, planned, symptom)
        resolution = _resolution(w, planned, used, fix)
        resolved_at = _ANCHOR - timedelta(minutes=rng.randrange(_SPREAD_MINUTES))
        tickets.append(
            TicketText(
                ticket_id=ticket_id,
                external_key=f"INC00{key:05d}",
                title=title,
                description=description,
                resolution=resolution,
                category=category,
                resolved_at=resolved_at,
                people=(w.requester.full, w.agent.full),
            )
        )
        labels[ticket_id] = label
        seeded[ticket_id] = w.pii
        steps_used[ticket_id] = used
    return FixtureSet(
        tickets=tickets,
        labels=labels,
        problems={p.id: p for p in chosen},
        seeded_pii=seeded,
        steps_used=steps_used,
    )
