import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { UnsafeTarError } from '../../agent/errors.ts';
import { checkTarBuffer, TarCheck } from '../../agent/tar-safety.ts';
import { paxRecords, type RawTarEntry, rawTar, rawTarEntry, tarOf, writeRandomTar } from '../harness/agent.ts';

/** The reason the check gives, or 'ok'. */
function verdict(buf: Buffer): string {
  try {
    checkTarBuffer(buf);
    return 'ok';
  } catch (err) {
    if (!(err instanceof UnsafeTarError)) throw err;
    return err.message;
  }
}
const file = (name: string, body = 'x'): RawTarEntry => ({ name, body });
const dir = (name: string): RawTarEntry => ({ name, type: '5' });
const sym = (name: string, linkname: string): RawTarEntry => ({ name, type: '2', linkname });
const hard = (name: string, linkname: string): RawTarEntry => ({ name, type: '1', linkname });
const pax = (records: Record<string, string> | [string, string][]): RawTarEntry => ({
  name: 'PaxHeader',
  type: 'x',
  body: paxRecords(records),
});
const longName = (n: string | Buffer): RawTarEntry => ({
  name: '././@LongLink',
  type: 'L',
  magic: 'gnu',
  body: Buffer.concat([Buffer.from(n), Buffer.alloc(1)]),
});

describe('tar entry types: an allow-list of what a checkpoint archive holds', () => {
  const rejected: [string, string, RegExp][] = [
    ['X', 'Solaris extended header', /Solaris extended header/],
    ['g', 'pax global header (path= applies to every later entry in GNU tar and Python)', /pax global header/],
    ['S', 'GNU sparse file', /GNU sparse file/],
    ['V', 'GNU volume label', /volume label/],
    ['M', 'GNU multi-volume continuation', /multi-volume/],
    ['N', 'GNU old long names', /old-style long name/],
    ['D', 'GNU dump directory', /dump directory/],
    ['I', 'star inode-only entry', /inode-only/],
    ['3', 'character device', /character device/],
    ['4', 'block device', /block device/],
    ['6', 'fifo', /fifo/],
    ['7', 'contiguous file', /contiguous file/],
    ['A', 'vendor extension A', /vendor-specific entry \(typeflag 'A'\)/],
    ['Z', 'vendor extension Z', /vendor-specific/],
    ['8', 'unknown digit typeflag', /unknown entry type \(typeflag 0x38\)/],
    ['a', 'unknown lowercase typeflag', /unknown entry type \(typeflag 0x61\)/],
    ['\x01', 'control-byte typeflag', /unknown entry type \(typeflag 0x01\)/],
    ['\xff', 'high-byte typeflag', /unknown entry type \(typeflag 0xff\)/],
  ];
  for (const [flag, what, reason] of rejected)
    it(`rejects a ${what} (typeflag 0x${flag.charCodeAt(0).toString(16)}), even followed by a plain file`, () => {
      const body = flag === 'g' ? paxRecords({ path: 'evil-g' }) : 'path=../evil\n';
      const v = verdict(rawTar([file('config.dump'), { name: 'x', type: flag, body }, file('a')]));
      expect(v).toMatch(reason);
    });

  it('accepts regular files with typeflag "0" and NUL, directories, symlinks and hardlinks', () => {
    const entries = checkTarBuffer(
      rawTar([dir('d/'), file('d/a'), { name: 'b', type: '\0', body: 'y' }, sym('l', 'd/a'), hard('h', 'd/a')]),
    );
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ['d/', 'directory'],
      ['d/a', 'file'],
      ['b', 'file'],
      ['l', 'symlink'],
      ['h', 'hardlink'],
    ]);
  });
});

describe('pax and GNU extension headers: applied the one way all extractors agree on, or rejected', () => {
  const cases: [string, RawTarEntry[], RegExp | 'ok'][] = [
    ['pax path', [pax({ path: `${'long/'.repeat(30)}name` }), file('short')], 'ok'],
    ['pax xattr', [pax({ 'SCHILY.xattr.security.capability': 'x' }), file('a')], 'ok'],
    [
      'pax GNU.sparse.name (GNU tar and Python rename the entry)',
      [pax({ 'GNU.sparse.name': 'other' }), file('a')],
      /GNU\.sparse\.name \(GNU sparse file\)/,
    ],
    ['pax GNU.sparse.map', [pax({ 'GNU.sparse.map': '0,1' }), file('a')], /GNU\.sparse\.map/],
    [
      'pax GNU.sparse.major/minor',
      [pax({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' }), file('a')],
      /GNU\.sparse/,
    ],
    ['pax hdrcharset (changes how Python decodes names)', [pax({ hdrcharset: 'BINARY' }), file('a')], /hdrcharset/],
    ['an unknown pax keyword', [pax({ 'LIBARCHIVE.creationtime': '1' }), file('a')], /LIBARCHIVE/],
    ['a non-decimal pax size (Python reads 0, GNU tar fails)', [pax({ size: '1x' }), file('a')], /non-decimal size/],
    ['a pax size with a leading zero', [pax({ size: '01' }), file('a')], /non-decimal size/],
    ['a pax uid in hex', [pax({ uid: '0x1' }), file('a')], /non-decimal uid/],
    ['an invalid pax mtime', [pax({ mtime: '1e9' }), file('a')], /invalid mtime/],
    [
      'a repeated pax keyword',
      [
        pax([
          ['path', 'a'],
          ['path', 'b'],
        ]),
        file('c'),
      ],
      /repeats keyword path/,
    ],
    ['a NUL in a pax path', [pax({ path: 'a\0b' }), file('c')], /NUL in path/],
    [
      'a pax path that is not UTF-8',
      [{ name: 'p', type: 'x', body: Buffer.from('12 path=a\xffb\n', 'latin1') }, file('c')],
      /not valid UTF-8/,
    ],
    [
      'a pax record whose length lies',
      [{ name: 'p', type: 'x', body: '99 path=a\n' }, file('c')],
      /length does not match/,
    ],
    ['a pax record without newline', [{ name: 'p', type: 'x', body: '9 path=ab' }, file('c')], /length does not match/],
    [
      'a pax record with trailing garbage (Python stops there)',
      [{ name: 'p', type: 'x', body: Buffer.concat([paxRecords({ path: 'a' }), Buffer.from('\0\0')]) }, file('c')],
      /malformed record length/,
    ],
    ['a pax record without "="', [{ name: 'p', type: 'x', body: '9 pathab\n' }, file('c')], /without "key="/],
    [
      'two pax headers for one entry (GNU tar keeps the second, Python the first)',
      [pax({ path: 'first' }), pax({ uid: '5' }), file('a')],
      /follows a pax header/,
    ],
    [
      'a GNU long name then a pax path (Python takes L, GNU tar takes x)',
      [longName('fromL'), pax({ path: 'fromX' }), file('a')],
      /mixes a pax header with GNU long-name/,
    ],
    ['a pax path then a GNU long name', [pax({ path: 'fromX' }), longName('fromL'), file('a')], /follows a pax header/],
    ['two GNU long names', [longName('one'), longName('two'), file('a')], /repeats a GNU long-name/],
    [
      'GNU long name and long link on a symlink',
      [
        longName('l'.repeat(120)),
        { name: '././@LongLink', type: 'K', magic: 'gnu', body: `${'t'.repeat(120)}\0` },
        sym('l', 'x'),
      ],
      'ok',
    ],
    [
      'a GNU long name that is not NUL-terminated',
      [{ name: '././@LongLink', type: 'L', magic: 'gnu', body: 'abc' }, file('a')],
      /NUL-terminated/,
    ],
    [
      'a GNU long name with bytes after its NUL',
      [{ name: '././@LongLink', type: 'L', magic: 'gnu', body: 'abc\0x\0' }, file('a')],
      /NUL-terminated/,
    ],
    ['an empty extension header', [{ name: 'p', type: 'x', body: '' }, file('a')], /extension header of 0 bytes/],
    ['an extension header at the end of the archive', [file('a'), pax({ path: 'b' })], /applies to no entry/],
  ];
  for (const [label, entries, want] of cases)
    it(`${want === 'ok' ? 'accepts' : 'rejects'} ${label}`, () => {
      const v = verdict(rawTar(entries));
      if (want === 'ok') expect(v).toBe('ok');
      else expect(v).toMatch(want);
    });

  it('applies a pax path and a GNU long name like the extractors do', () => {
    const long = `${'d'.repeat(150)}/${'f'.repeat(150)}`;
    expect(checkTarBuffer(rawTar([pax({ path: long }), file('short')])).map((e) => e.name)).toEqual([long]);
    expect(checkTarBuffer(rawTar([longName(long), file('short')])).map((e) => e.name)).toEqual([long]);
  });
});

describe('headers: one reading for every extractor', () => {
  const cases: [string, RawTarEntry[] | Buffer, RegExp][] = [
    ['a bad checksum', [{ ...file('a'), badChecksum: 1 }], /bad header checksum/],
    [
      'a v7 header (no magic; Python applies the prefix area, GNU tar does not)',
      [{ ...file('a'), magic: 'v7' }],
      /pre-POSIX \(v7\)/,
    ],
    ['a GNU header with bytes in the prefix area', [{ ...file('a'), magic: 'gnu', prefix: 'pre' }], /prefix area/],
    [
      'garbage in the uid field (Python stops the archive there, GNU tar goes on)',
      [file('a'), { ...file('b'), fields: { uid: Buffer.from('12x\0') } }, file('c')],
      /invalid uid/,
    ],
    ['garbage in the mode field', [{ ...file('a'), fields: { mode: Buffer.from('0644\0z\0\0') } }], /invalid mode/],
    [
      'garbage in the mtime field',
      [{ ...file('a'), fields: { mtime: Buffer.from('1x345678901\0') } }],
      /invalid mtime/,
    ],
    ['an 8 in an octal size', [{ ...file('a'), fields: { size: Buffer.from('00000000008\0') } }], /invalid size/],
    ['an empty size field', [{ ...file('a'), fields: { size: Buffer.alloc(12) } }], /invalid size/],
    ['garbage in devmajor', [{ ...file('a'), fields: { devmajor: Buffer.from('7x\0') } }], /invalid devmajor/],
    [
      'a negative base-256 size',
      [{ ...file('a'), fields: { size: Buffer.from([0xff, ...Array(11).fill(0xff)]) } }],
      /invalid size/,
    ],
    [
      'a directory with content bytes',
      [{ ...dir('d/'), size: 512, body: 'x'.repeat(512) }],
      /directory with 512 bytes/,
    ],
    [
      'a hardlink with content bytes',
      [file('f'), { ...hard('h', 'f'), size: 512, body: 'x'.repeat(512) }],
      /hardlink with 512 bytes/,
    ],
    ['a file with a link name', [{ ...file('a'), linkname: 'b' }], /file with a link target/],
    [
      'a file named with a trailing "/" (tar-stream and Python make it a directory, GNU tar a file)',
      [file('d/')],
      /ends in "\/"/,
    ],
    ['a NUL-typeflag file named with a trailing "/"', [{ name: 'd/', type: '\0' }], /ends in "\/"/],
    ['a name that is not UTF-8', [{ name: Buffer.from('a\xff', 'latin1'), body: 'x' }], /not valid UTF-8/],
    [
      'data after the end-of-archive block (tar-stream reads on, GNU tar and Python stop)',
      rawTar([file('a')], Buffer.concat([Buffer.alloc(512), rawTarEntry(file('after')), Buffer.alloc(1024)])),
      /after its end-of-archive block/,
    ],
    ['a truncated archive (no end block)', Buffer.concat([rawTarEntry(file('a'))]), /truncated/],
    ['an archive cut inside an entry', rawTar([file('a', 'x'.repeat(2000))]).subarray(0, 1024), /truncated/],
    [
      'a length that is not a whole number of blocks',
      Buffer.concat([rawTar([file('a')]), Buffer.alloc(100)]),
      /whole number of 512-byte blocks/,
    ],
    ['an empty archive', Buffer.alloc(1024), /has no entries/],
    ['bytes that are not a tar', Buffer.alloc(4096, 7), /bad header checksum/],
  ];
  for (const [label, entries, reason] of cases)
    it(`rejects ${label}`, () => expect(verdict(Buffer.isBuffer(entries) ? entries : rawTar(entries))).toMatch(reason));

  it('accepts base-256 numbers (GNU tar writes them for big sizes and ids) and space-padded octal', () => {
    const big = Buffer.from([0x80, ...Array(10).fill(0), 5]);
    expect(verdict(rawTar([{ ...file('a'), fields: { uid: Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 1]) } }]))).toBe('ok');
    expect(verdict(rawTar([{ ...file('a', 'hello'), fields: { size: big } }]))).toBe('ok');
    expect(verdict(rawTar([{ ...file('a'), fields: { mode: Buffer.from('   644 \0') } }]))).toBe('ok');
  });
});

describe('paths and links: resolved as a chain against the archive root', () => {
  const cases: [string, RawTarEntry[], RegExp | 'ok'][] = [
    [
      "the issue's chain: a -> . then a/b -> .. then a file through them",
      [sym('a', '.'), sym('a/b', '..'), file('a/b/escape')],
      /inside "a", which is a symlink/,
    ],
    ['a link to its own folder', [sym('a', '.')], 'ok'],
    ['a link to ".." from the root', [sym('up', '..')], /resolves outside the archive root/],
    ['a link to "../.." from one level down', [dir('d/'), sym('d/l', '../..')], /resolves outside/],
    ['a link to ".." from one level down', [dir('d/'), sym('d/l', '..')], 'ok'],
    [
      'a chain of links that climbs out: p -> d/q, d/q -> ../.. ',
      [dir('d/'), sym('p', 'd/q'), sym('d/q', '../..')],
      /resolves outside/,
    ],
    [
      'a link through a link to the root then up: x -> ., l -> x/.. (non-canonical)',
      [sym('x', '.'), sym('l', 'x/..')],
      /canonical form/,
    ],
    [
      'a chain that climbs via a link to a shallow folder: d/e/, d/e/up -> ../.., d/e/l -> up/..',
      [dir('d/e/'), sym('d/e/up', '../..'), sym('d/e/l', 'up/..')],
      /canonical form/,
    ],
    [
      'a chain resolving outside only through another link: top -> ., d/, d/t -> ../top, d/u -> t/../..',
      [sym('top', '.'), dir('d/'), sym('d/t', '../top'), sym('d/u', 't/../..')],
      /canonical form/,
    ],
    [
      'a canonical chain through a link to the root: top -> ., d/, d/x -> ../top/top/top',
      [sym('top', '.'), dir('d/'), sym('d/x', '../top/top/top')],
      'ok',
    ],
    ['a link whose chain escapes: r -> .., found through s -> r', [sym('r', '..'), sym('s', 'r')], /resolves outside/],
    [
      'a link to a link that escapes later (s -> r/x first, then r -> ..)',
      [sym('s', 'r/x'), sym('r', '..')],
      /resolves outside/,
    ],
    ['an absolute link', [sym('l', '/etc/passwd')], /absolute path/],
    ['a link with "./" (Python\'s data filter rewrites it)', [sym('l', './a')], /canonical form/],
    ['a link with a trailing slash', [sym('l', 'a/')], /canonical form/],
    ['a link with "//"', [sym('l', 'a//b')], /canonical form/],
    ['a link with ".." after a name', [sym('l', 'a/../b')], /canonical form/],
    ['a link loop', [sym('a', 'b'), sym('b', 'a')], /loop of symlinks/],
    ['a link to itself', [sym('a', 'a')], /loop of symlinks/],
    ['a dangling link inside the root', [sym('l', 'not/there')], 'ok'],
    [
      'a file through a link to a real folder (GNU tar and Python agree here, but tar never writes it)',
      [dir('d/'), sym('l', 'd'), file('l/f')],
      /inside "l", which is a symlink/,
    ],
    [
      'a file through a link with ".." (GNU tar delays that link: placeholder, then "Not a directory")',
      [dir('a/'), dir('d/'), sym('a/l', '../d'), file('a/l/f')],
      /inside "a\/l", which is a symlink/,
    ],
    ['a folder through a link', [sym('l', '.'), dir('l/sub/')], /inside "l", which is a symlink/],
    ['a file inside a file', [file('f'), file('f/g')], /inside "f", which is a regular file/],
    ['a ".." name', [file('../escape')], /".." component/],
    ['a ".." in the middle of a name', [file('a/../../escape')], /".." component/],
    ['an absolute name', [file('/tmp/escape-abs')], /absolute name/],
    ['a backslash name', [file('a\\..\\b')], /backslash/],
    ['a control character in a name', [file('a\nb')], /control character/],
    ['a name component over 255 bytes', [pax({ path: 'n'.repeat(256) }), file('x')], /component over 255/],
    [
      "a path over 4095 bytes (Python's realpath gives up on such paths)",
      [pax({ path: `${`${'d'.repeat(200)}/`.repeat(21)}f` }), file('x')],
      /over 4095 bytes/,
    ],
    ['a file named "." (the root)', [file('.')], /names the archive root/],
    ['a root folder entry "./"', [dir('./'), file('./a')], 'ok'],
    ['"./a", ".//a" and "a//b" spellings', [dir('./a/'), file('a//b'), file('.//a/c')], 'ok'],
    // found by the differential test (seed 777): GNU tar "a/.: Cannot open: File exists", the check read "a"
    [
      'a file named "a/." (shrunk counterexample)',
      [file('a/.', ''), sym('b/a', '..')],
      /"\." component after the start/,
    ],
    ['a "." inside a name', [file('a/./c')], /"\." component after the start/],
    ['a folder named "a/./"', [dir('a/./')], /"\." component after the start/],
    ['a hardlink to "f/."', [file('f'), hard('h', 'f/.')], /"\." component after the start of its hardlink target/],
  ];
  for (const [label, entries, want] of cases)
    it(`${want === 'ok' ? 'accepts' : 'rejects'} ${label}`, () => {
      const v = verdict(rawTar(entries));
      if (want === 'ok') expect(v).toBe('ok');
      else expect(v).toMatch(want);
    });
});

describe('duplicates and hardlinks', () => {
  const cases: [string, RawTarEntry[], RegExp | 'ok'][] = [
    ['the same file twice', [file('a'), file('a')], /duplicate: it replaces the earlier regular file "a"/],
    ['"./a" after "a"', [file('a'), file('./a')], /duplicate/],
    ['a folder replaced by a file', [dir('d/'), file('d')], /duplicate: it replaces the earlier directory/],
    ['an implicit folder replaced by a link', [file('d/f'), sym('d', '.')], /replaces the earlier directory/],
    ['a folder replaced by a link', [dir('d/'), sym('d', 'x')], /replaces the earlier directory/],
    ['a link replaced by a folder', [sym('d', 'x'), dir('d/')], /replaces the earlier symlink "d" with a directory/],
    ['a file replaced by a folder', [file('d'), dir('d/')], /replaces the earlier regular file/],
    ['a folder repeated', [dir('d/'), file('d/a'), dir('d/')], 'ok'],
    ['a hardlink to an earlier file', [file('f'), hard('h', 'f')], 'ok'],
    ['a hardlink to an earlier hardlink', [file('f'), hard('h', 'f'), hard('i', 'h')], 'ok'],
    ['a hardlink spelled "./f"', [file('f'), hard('h', './f')], 'ok'],
    ['a hardlink to a later file', [hard('h', 'f'), file('f')], /not a regular file earlier/],
    ['a hardlink to a missing file', [hard('h', 'nope')], /not a regular file earlier/],
    ['a hardlink to a folder', [dir('d/'), hard('h', 'd')], /not a regular file earlier/],
    ['a hardlink to a symlink', [sym('l', 'x'), hard('h', 'l')], /not a regular file earlier/],
    [
      'a hardlink through a symlink',
      [dir('d/'), file('d/f'), sym('l', 'd'), hard('h', 'l/f')],
      /inside "l", which is a symlink/,
    ],
    ['a hardlink to itself', [hard('h', 'h')], /not a regular file earlier/],
    ['a hardlink out of the root', [hard('h', '../../outside')], /".." component/],
    ['an absolute hardlink', [hard('h', '/etc/passwd')], /absolute hardlink target/],
    ['a hardlink to the root', [hard('h', '.')], /hardlink to the archive root/],
    ['a hardlink to a file in a missing folder', [hard('h', 'no/f')], /folder "no" does not exist/],
    ['a hardlink replacing its own target', [file('f'), hard('f', 'f')], /duplicate/],
  ];
  for (const [label, entries, want] of cases)
    it(`${want === 'ok' ? 'accepts' : 'rejects'} ${label}`, () => {
      const v = verdict(rawTar(entries));
      if (want === 'ok') expect(v).toBe('ok');
      else expect(v).toMatch(want);
    });
});

describe('archives real producers write are accepted', () => {
  const root = mkdtempSync(join(tmpdir(), 'ms2m-tar-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const src = join(root, 'src');
  mkdirSync(join(src, 'checkpoint'), { recursive: true });
  writeFileSync(join(src, 'config.dump'), '{"id":"x"}');
  writeFileSync(join(src, 'checkpoint', 'pages-1.img'), Buffer.alloc(70_000, 1));
  const deep = join(src, 'a'.repeat(120), 'b'.repeat(120));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'c'.repeat(150)), 'deep');
  writeFileSync(join(src, 'näme-ü.dump'), 'utf8 name');
  symlinkSync('../config.dump', join(src, 'checkpoint', 'cfg'));
  linkSync(join(src, 'config.dump'), join(src, 'hard.dump'));

  for (const format of ['gnu', 'posix', 'ustar', 'oldgnu'])
    it(`GNU tar --format=${format}`, () => {
      const out = join(root, `${format}.tar`);
      const members = format === 'ustar' ? ['config.dump', 'checkpoint', 'hard.dump', 'näme-ü.dump'] : ['.'];
      execFileSync('tar', ['-C', src, `--format=${format}`, '-cf', out, ...members]);
      expect(verdict(readFileSync(out))).toBe('ok');
    });

  for (const format of ['PAX_FORMAT', 'GNU_FORMAT', 'USTAR_FORMAT'])
    it(`Python tarfile ${format}`, () => {
      const out = join(root, `${format}.tar`);
      const names = format === 'USTAR_FORMAT' ? "['config.dump','checkpoint','hard.dump']" : "['.']";
      execFileSync('python3', [
        '-c',
        `import tarfile,os\nos.chdir(${JSON.stringify(src)})\nwith tarfile.open(${JSON.stringify(out)},'w',format=tarfile.${format}) as t:\n  [t.add(n) for n in ${names}]`,
      ]);
      expect(verdict(readFileSync(out))).toBe('ok');
    });

  it('tar-stream (the test helpers and the registry adapter), long names included', async () => {
    expect(
      verdict(
        await tarOf([
          { name: 'config.dump', body: '{}' },
          { name: `${'x'.repeat(200)}/y`, body: 'z' },
        ]),
      ),
    ).toBe('ok');
    const p = join(root, 'random.tar');
    await writeRandomTar(p, 100_000);
    expect(verdict(readFileSync(p))).toBe('ok');
  });
});

describe('streaming', () => {
  it('the verdict does not depend on how the bytes are chunked (seeded)', () => {
    const archives = [
      rawTar([dir('d/'), pax({ path: `d/${'p'.repeat(300)}` }), file('x', 'y'.repeat(1300)), sym('d/l', '..')]),
      rawTar([longName('n'.repeat(700)), file('a', 'b'.repeat(600)), sym('u', '..')]),
      rawTar([file('a', 'q'.repeat(513)), { name: 'x', type: 'g', body: paxRecords({ path: 'e' }) }]),
      rawTar([file('a')], Buffer.concat([Buffer.alloc(512), rawTarEntry(file('b')), Buffer.alloc(1024)])),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...archives),
        fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 40 }),
        (buf, cuts) => {
          const c = new TarCheck();
          let got = 'ok';
          try {
            let off = 0;
            for (let i = 0; off < buf.length; i++) {
              const n = cuts[i % cuts.length] as number;
              c.feed(buf.subarray(off, off + n));
              off += n;
            }
            c.end();
          } catch (err) {
            got = (err as Error).message;
          }
          expect(got).toBe(verdict(buf));
        },
      ),
      { seed: 0x7a2c, numRuns: 200 },
    );
  });

  it('stops at the first unsafe entry and keeps failing (nothing after it is read)', () => {
    const c = new TarCheck();
    expect(() => c.feed(rawTar([file('ok'), file('../bad')]))).toThrow(/".." component/);
    expect(() => c.feed(Buffer.alloc(512))).toThrow(/".." component/);
    expect(() => c.end()).toThrow(/".." component/);
  });

  it('enforces the entry count and entry size limits', () => {
    const many = rawTar([file('a'), file('b'), file('c')]);
    expect(() => checkTarBuffer(many, { maxEntries: 2, maxEntryBytes: 100 })).toThrow(/limit of 2 entries/);
    expect(() => checkTarBuffer(rawTar([file('a', 'x'.repeat(101))]), { maxEntries: 9, maxEntryBytes: 100 })).toThrow(
      /101 bytes, over the limit of 100/,
    );
  });
});
