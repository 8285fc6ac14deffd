// mvdan-sh ships no types: this is the part of its API (mvdan.cc/sh/v3/syntax, built with
// GopherJS) that the interpreter uses. Nodes are Go structs; fields are read as properties.
declare module 'mvdan-sh' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  export type ShNode = any;
  interface Syntax {
    NewParser(...opts: unknown[]): { Parse(src: string, name: string): ShNode };
    Variant(v: unknown): unknown;
    LangBash: unknown;
    LangPOSIX: unknown;
    NodeType(n: ShNode): string;
    Walk(n: ShNode, f: (n: ShNode) => boolean): void;
  }
  const sh: { syntax: Syntax };
  export default sh;
}
