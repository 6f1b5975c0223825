/** Plain tables for humans (cli-table3), borderless so they paste cleanly into tickets. */
import Table from 'cli-table3'

export function renderTable(head: string[], rows: (string | number | null | undefined)[][]): string {
  const table = new Table({
    head,
    style: {head: [], border: [], compact: true, 'padding-left': 0, 'padding-right': 2},
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '',
      'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '',
    },
  })
  for (const row of rows) table.push(row.map((cell) => (cell === null || cell === undefined ? '-' : String(cell))))
  return table.toString()
}
