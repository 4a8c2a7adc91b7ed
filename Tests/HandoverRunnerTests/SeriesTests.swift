import Foundation
import Testing
@testable import HandoverSupport
@testable import HandoverImages

/// Fixtures/mail/widget-v2: a synthetic series (cover letter, three patches, one review reply)
/// against a two-file tree that `widgetTree` writes. 1/3 applies clean, 2/3 creates a header the
/// tree already has (rejected), 3/3 takes fuzz.
private let cover = "<cover.1782000000.git.ada@example.org>"
private func patchID(_ number: Int) -> String { "<20261102100001.1-\(number)-ada@example.org>" }

private func fixtureMail() throws -> URL {
    try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent("mail/widget-v2")
}

private func fixtureMessages() throws -> [MailMessage] {
    MailFolders(entries: [try fixtureMail()]).messages()
}

private struct Scratch {
    let root: URL
    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("handover-series-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }
    @discardableResult
    func write(_ relative: String, _ text: String) throws -> URL {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }
    func remove() { try? FileManager.default.removeItem(at: root) }
}

private func widgetTree(in scratch: Scratch, _ name: String = "tree") throws -> URL {
    try scratch.write("\(name)/lib/widget.c", """
        #include "widget.h"

        int widget_count;

        int widget_init(void)
        {
        \twidget_count = 0;
        \treturn 0;
        }

        void widget_exit(void)
        {
        \twidget_count = -1;
        }

        """)
    try scratch.write("\(name)/include/widget.h", "#ifndef WIDGET_H\n#define WIDGET_H\nint widget_init(void);\n#endif\n")
    // What Recipe's kernel tree check looks for.
    for marker in ["Makefile", "Kconfig", "arch/x86/Kconfig", "scripts/kconfig/.keep"] { try scratch.write("\(name)/\(marker)", "\n") }
    return scratch.root.appendingPathComponent(name)
}

/// The port of 2/3: the tree has widget.h already, so the fixup adds the two prototypes to it.
private let headerFixup = """
    From: handover <handover@localhost>
    Subject: [PATCH] widget: port "declare the counter in a new header"

    The base already has include/widget.h; add the prototypes the patch would have created.
    Ports: <20261102100001.1-2-ada@example.org>
    ---
    --- a/include/widget.h
    +++ b/include/widget.h
    @@ -1,4 +1,6 @@
     #ifndef WIDGET_H
     #define WIDGET_H
     int widget_init(void);
    +int widget_add(int n);
    +void widget_exit(void);
     #endif

    """

private func recipe(_ scratch: Scratch, series: [String], patches: [URL] = []) throws -> Recipe {
    let file = try scratch.write("Images/widget.yaml", "source: {tree: ../tree}\n")
    return Recipe(name: "widget", file: file, source: .tree(path: scratch.root.appendingPathComponent("tree")), base: .tinyconfig,
                  fragments: [], cmdline: [], series: series, patches: patches)
}

@Suite("Mail messages")
struct MailMessageTests {
    @Test func headersAreUnfoldedAndThreaded() throws {
        let messages = try fixtureMessages()
        let second = try #require(messages.first { $0.messageID == patchID(2) })
        #expect(second.subject == "[PATCH v2 2/3] widget: declare the counter in a new header")
        #expect(second.inReplyTo == [cover])
        #expect(second.references == [cover])
        #expect(second.threads(under: cover))
        #expect(!second.threads(under: patchID(1)))
    }

    @Test func textWithoutMessageIDIsNoMessage() {
        #expect(MailMessage.parse(Data("# A README\n\nNo headers here.\n".utf8), source: URL(fileURLWithPath: "/x")) == nil)
        #expect(MailMessage.parse(Data("Subject: no id\n\nbody\n".utf8), source: URL(fileURLWithPath: "/x")) == nil)
    }

    @Test func encodedWordsInSubjects() {
        #expect(MailHeader.decode("=?UTF-8?q?J=C3=B6rg_Example?=") == "Jörg Example")
        #expect(MailHeader.decode("[PATCH 1/2] =?utf-8?b?w6k=?= =?utf-8?q?t=C3=A9?= done") == "[PATCH 1/2] été done")
        #expect(MailHeader.decode("plain [PATCH] text") == "plain [PATCH] text")
    }

    @Test func patchNumbers() {
        #expect(PostedSeries.number(inSubject: "[RFC PATCH v2 03/10] kvm: thing")! == (3, 10))
        #expect(PostedSeries.number(inSubject: "[PATCH v7 00/12] PCI: cover")! == (0, 12))
        #expect(PostedSeries.number(inSubject: "[PATCH 1/1] one")! == (1, 1))
        #expect(PostedSeries.number(inSubject: "Re: [PATCH v7 03/12] PCI: thing") == nil)
        #expect(PostedSeries.number(inSubject: "[PATCH] single patch") == nil)
        #expect(PostedSeries.title(ofSubject: "[PATCH v2 0/3] widget: count and reset") == "widget: count and reset")
    }

    @Test func messageIDs() {
        #expect(PostedSeries.isMessageID("<cover.1.git.a@example.org>"))
        #expect(PostedSeries.isMessageID("cover.1.git.a@example.org"))
        #expect(!PostedSeries.isMessageID("guest-memfd-rfc-v2"))
        #expect(!PostedSeries.isMessageID("<a b@example.org>"))
        #expect(PostedSeries.normalizedID("x@y") == "<x@y>")
    }
}

@Suite("Posted series")
struct PostedSeriesTests {
    @Test func patchesInNumberOrderWithoutReplies() throws {
        let series = try PostedSeries.find(cover, in: try fixtureMessages().reversed())
        #expect(series.patches.map(\.number) == [1, 2, 3])
        #expect(series.patches.map(\.message.messageID) == [patchID(1), patchID(2), patchID(3)])
        #expect(series.patches.allSatisfy { $0.total == 3 })
        #expect(series.title == "widget: count and reset")
        #expect(series.keyParts.count == 3)
    }

    @Test func theCoverLetterNeedNotBeThere() throws {
        let withoutCover = try fixtureMessages().filter { $0.messageID != cover }
        let series = try PostedSeries.find(cover, in: withoutCover)
        #expect(series.patches.count == 3)
        #expect(series.title == nil)
    }

    @Test func aSeriesWithoutCoverLetterIsNamedByItsFirstPatch() throws {
        // As git send-email threads it without --cover-letter: 1/3 starts the thread, 2/3 and
        // 3/3 reply to it.
        let messages = try fixtureMessages().filter { $0.messageID != cover }.map { message in
            var copy = message
            copy.inReplyTo = message.messageID == patchID(1) ? [] : [patchID(1)]
            copy.references = copy.inReplyTo
            return copy
        }
        let series = try PostedSeries.find(patchID(1), in: messages)
        #expect(series.patches.map(\.message.messageID) == [patchID(1), patchID(2), patchID(3)])
    }

    @Test func missingAndUnknownSeries() throws {
        let messages = try fixtureMessages().filter { $0.messageID != patchID(2) }
        #expect(throws: PostedSeries.LookupError.missing(id: cover, numbers: [2], total: 3)) { try PostedSeries.find(cover, in: messages) }
        #expect(throws: PostedSeries.LookupError.notFound(id: "<nobody@example.org>")) {
            try PostedSeries.find("nobody@example.org", in: messages)
        }
    }

    @Test func twoDifferentMessagesWithOneNumberAreRefused() throws {
        var messages = try fixtureMessages()
        var resend = try #require(messages.first { $0.messageID == patchID(3) })
        resend.messageID = "<resend.3@example.org>"
        messages.append(resend)
        #expect(throws: PostedSeries.LookupError.conflicting(id: cover, number: 3, messages: [patchID(3), "<resend.3@example.org>"])) {
            try PostedSeries.find(cover, in: messages)
        }
        // The same message found twice (two folders) is one.
        let twice = try fixtureMessages() + fixtureMessages()
        #expect(try PostedSeries.find(cover, in: twice).patches.count == 3)
    }

    @Test func mboxAndMaildirHoldTheSameSeries() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let folder = try fixtureMail()
        var mbox = ""
        var maildir: [URL] = []
        for name in ["0003.eml", "0000.eml", "0001.eml", "0002.eml"] {
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            mbox += "From ada@example.org Mon Nov  2 10:00:00 2026\n" + text + "\n"
            maildir.append(try scratch.write("maildir/cur/1782.\(name).host:2,S", text))
        }
        try scratch.write("maildir/new/.keep", "")
        let mboxFile = try scratch.write("series.mbox", mbox)
        let fromMbox = try PostedSeries.find(cover, in: MailFolders(entries: [mboxFile]).messages())
        let fromMaildir = try PostedSeries.find(cover, in: MailFolders(entries: [scratch.root.appendingPathComponent("maildir")]).messages())
        let fromFolder = try PostedSeries.find(cover, in: try fixtureMessages())
        #expect(fromMbox.keyParts == fromFolder.keyParts)
        #expect(fromMaildir.keyParts == fromFolder.keyParts)
        #expect(fromMbox.patches.allSatisfy { $0.message.source == mboxFile })
    }

    @Test func mboxrdEscapesAreUndone() {
        let mbox = "From a@b Mon Nov  2 10:00:00 2026\nMessage-ID: <m1@b>\nSubject: one\n\n>From here\n>>From there\n> quoted\n\nFrom a@b Mon Nov  2 10:00:01 2026\nMessage-ID: <m2@b>\nSubject: two\n\nbody\n"
        let messages = MailFolders.splitMbox(Data(mbox.utf8)).map { String(decoding: $0, as: UTF8.self) }
        #expect(messages == ["Message-ID: <m1@b>\nSubject: one\n\nFrom here\n>From there\n> quoted\n",
                             "Message-ID: <m2@b>\nSubject: two\n\nbody\n"])
    }

    @Test func foldersFromTheEnvironment() {
        let folders = MailFolders.fromEnvironment(["HANDOVER_MAIL": "../shared/series::/var/mail/lkml"], currentDirectory: "/work/pkg")
        #expect(folders.entries.map(\.path) == ["/work/shared/series", "/var/mail/lkml"])
        #expect(MailFolders.fromEnvironment([:], currentDirectory: "/").entries.isEmpty)
    }
}

@Suite("Recipes with series")
struct RecipeSeriesTests {
    @Test func seriesAreReadAndChecked() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        _ = try widgetTree(in: scratch)
        let good = try scratch.write("Images/good.yaml", """
            source: {tree: ../tree}
            config: {base: tinyconfig}
            series: ["\(cover)", 20261102100001.1-1-ada@example.org]
            """)
        #expect(try Recipe.load(from: good).series == [cover, patchID(1)])

        let bad = try scratch.write("Images/bad.yaml", """
            source: {tree: ../tree}
            config: {base: tinyconfig}
            series: [guest-memfd-rfc-v2]
            """)
        #expect(throws: InputError.self) { try Recipe.load(from: bad) }
        do { _ = try Recipe.load(from: bad) } catch {
            #expect(error.keyPath == "series[0]")
            #expect(error.message.contains("Message-ID") && error.message.contains("guest-memfd-rfc-v2"))
        }
        let twice = try scratch.write("Images/twice.yaml", """
            source: {tree: ../tree}
            config: {base: tinyconfig}
            series: ["\(cover)", "\(cover)"]
            """)
        do { _ = try Recipe.load(from: twice); Issue.record("a series listed twice loaded") } catch {
            #expect(error.keyPath == "series[1]")
        }
    }

    @Test func anUnfindableSeriesNamesRecipeKeyAndFolders() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let recipe = try recipe(scratch, series: [cover, "<20260101.none@example.org>"])
        let folders = MailFolders(entries: [try fixtureMail(), scratch.root.appendingPathComponent("absent")])
        do { _ = try recipe.postedSeries(in: folders); Issue.record("an unfindable series was found") } catch {
            #expect(error.file == recipe.file.path)
            #expect(error.keyPath == "series[1]")
            #expect(error.message.contains("<20260101.none@example.org>"))
            #expect(error.message.contains(try fixtureMail().path))
            #expect(error.message.contains("absent does not exist"))
            #expect(error.message.contains("HANDOVER_MAIL"))
        }
        do { _ = try recipe.postedSeries(in: MailFolders(entries: [])); Issue.record("found without folders") } catch {
            #expect(error.keyPath == "series")
            #expect(error.message.contains("HANDOVER_MAIL is not set"))
        }
    }

    @Test func theKeyCoversEveryMessage() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let folder = scratch.root.appendingPathComponent("mail")
        try FileManager.default.copyItem(at: try fixtureMail(), to: folder)
        let recipe = try recipe(scratch, series: [cover])
        let before = try recipe.postedSeries(in: MailFolders(entries: [folder])).flatMap(\.keyParts)
        #expect(before.count == 3 && before[0].hasPrefix(patchID(1) + ":"))
        let plain = ImageKeyInputs(source: "s", baseConfig: "tinyconfig", fragments: [], compiler: "gcc", cmdline: [])
        let withSeries = ImageKeyInputs(source: "s", baseConfig: "tinyconfig", fragments: [], compiler: "gcc", cmdline: [], series: before)
        #expect(plain.key != withSeries.key)
        // A recipe without series keeps the key it had before series existed.
        #expect(!String(decoding: try JSONEncoder().encode(plain), as: UTF8.self).contains("series"))

        // One byte of one message changes the key; the cover letter is no part of it.
        let third = folder.appendingPathComponent("0003.eml")
        try (try String(contentsOf: third, encoding: .utf8)).replacingOccurrences(of: "counting down", with: "counting up")
            .write(to: third, atomically: true, encoding: .utf8)
        let after = try recipe.postedSeries(in: MailFolders(entries: [folder])).flatMap(\.keyParts)
        #expect(after[0] == before[0] && after[1] == before[1] && after[2] != before[2])
        let coverFile = folder.appendingPathComponent("0000.eml")
        try (try String(contentsOf: coverFile, encoding: .utf8) + "\nP.S.\n").write(to: coverFile, atomically: true, encoding: .utf8)
        #expect(try recipe.postedSeries(in: MailFolders(entries: [folder])).flatMap(\.keyParts) == after)
    }
}

@Suite("Applying series")
struct SeriesApplicationTests {
    private func builder(_ scratch: Scratch) -> ImageBuilder {
        ImageBuilder(paths: CachePaths(root: scratch.root.appendingPathComponent("cache")), progress: ProgressReporter(mode: .quiet, isTerminal: false))
    }

    @Test func cleanFuzzAndPortedPatchesAreRecorded() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tree = try widgetTree(in: scratch)
        let fixup = try scratch.write("Images/patches/widget-header.patch", headerFixup)
        let recipe = try recipe(scratch, series: [cover], patches: [fixup])
        let series = try recipe.postedSeries(in: MailFolders(entries: [try fixtureMail()]))
        let records = try await builder(scratch).applySeries(recipe, series: series, to: tree, base: tree)
        #expect(records.map(\.messageID) == [patchID(1), patchID(2), nil, patchID(3)])
        #expect(records.map(\.applied) == [.clean, .ported, .clean, .fuzz])
        #expect(records[1].portedBy == ["widget-header.patch"])
        #expect(records[1].output.contains("already exists"))
        #expect(records[0].subject == "[PATCH v2 1/3] widget: add a counter")
        #expect(records.allSatisfy { $0.messageID == nil || $0.series == cover })
        let header = try String(contentsOf: tree.appendingPathComponent("include/widget.h"), encoding: .utf8)
        #expect(header.contains("int widget_add(int n);"))
        let source = try String(contentsOf: tree.appendingPathComponent("lib/widget.c"), encoding: .utf8)
        #expect(source.contains("widget_count--;") && source.contains("int widget_add(int n)"))
        // No reject or backup files are left in the tree.
        let leftovers = (FileManager.default.enumerator(atPath: tree.path)?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".rej") || $0.hasSuffix(".orig") }
        #expect(leftovers.isEmpty)
    }

    @Test func aRejectedPatchWithoutFixupIsAnError() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tree = try widgetTree(in: scratch)
        let recipe = try recipe(scratch, series: [cover])
        let series = try recipe.postedSeries(in: MailFolders(entries: [try fixtureMail()]))
        do {
            _ = try await builder(scratch).applySeries(recipe, series: series, to: tree, base: tree)
            Issue.record("a rejected patch applied")
        } catch let error as InputError {
            #expect(error.keyPath == "series[0]")
            #expect(error.message.contains("patch 2/3 \(patchID(2))"))
            #expect(error.message.contains("already exists"))
            #expect(error.message.contains("Ports: \(patchID(2))"))
        }
    }

    @Test func aFixupMustPortAPatchOfTheSeries() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let tree = try widgetTree(in: scratch)
        let fixup = try scratch.write("Images/patches/stray.patch",
                                      headerFixup.replacingOccurrences(of: patchID(2), with: "<elsewhere@example.org>"))
        let recipe = try recipe(scratch, series: [cover], patches: [fixup])
        let series = try recipe.postedSeries(in: MailFolders(entries: [try fixtureMail()]))
        do {
            _ = try await builder(scratch).applySeries(recipe, series: series, to: tree, base: tree)
            Issue.record("a stray fixup was accepted")
        } catch let error as InputError {
            #expect(error.keyPath == "patches[0]")
            #expect(error.message.contains("<elsewhere@example.org>"))
        }
    }

    @Test func patchOutputs() {
        #expect(PatchOutput(text: "patching file a.c\nHunk #1 succeeded at 15 with fuzz 1.", exitStatus: 0).applied == .fuzz)
        #expect(!PatchOutput(text: "patching file a.c\nHunk #1 succeeded at 15 (offset 3 lines).", exitStatus: 0).fuzzy)
        let failed = PatchOutput(text: "patching file a.h\nHunk #3 FAILED at 120.\n1 out of 3 hunks FAILED", exitStatus: 1)
        #expect(failed.rejected && failed.rejectedLines.count == 2 && !failed.troubled)
        #expect(PatchOutput(text: "patch: **** Only garbage was found in the patch input.", exitStatus: 2).troubled)
    }
}
