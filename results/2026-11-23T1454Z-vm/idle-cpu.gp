set title "10 active connections plus idle ones: server CPU per message\n{/*0.8 AMD EPYC, 2 CPUs, Linux 6.18.44-fc-v657, 2026-11-23 14:54 UTC}"
set xlabel "idle connections held open"
set ylabel "server CPU-us per message"
set grid
set key inside bottom right box opaque
set border 3
set tics nomirror
set arrow from 1010, graph 0 to 1010, graph 1 nohead dt 2 lc rgb "#56b4e9"
set label "select: fds reach FD\\_SETSIZE (1024); more are refused" at 1010, graph 0.95 offset 0.5,0 tc rgb "#56b4e9"
set logscale y
set terminal pngcairo size 800,500 font 'sans,10'
set output 'idle-cpu.png'
plot 'idle-cpu.dat' index 0 using 1:2:3:4 with yerrorlines lc rgb "#56b4e9" pt 5 ps 1.2 lw 2 title 'select', \
     'idle-cpu.dat' index 1 using 1:2:3:4 with yerrorlines lc rgb "#009e73" pt 7 ps 1.2 lw 2 title 'poll', \
     'idle-cpu.dat' index 2 using 1:2:3:4 with yerrorlines lc rgb "#0072b2" pt 9 ps 1.2 lw 2 title 'epoll'
set terminal svg size 800,500 font 'sans,10' dynamic
set output 'idle-cpu.svg'
replot
